"""``vcbench watch``: a detector on a live source (a file played as a call, a capture device, a
stream URL, the receiving end of a real WebRTC call), scored as the frames arrive."""
