import subprocess

import numpy as np
import pytest

from vcbench.errors import VideoError
from vcbench.video import VideoWriter, iter_frames, probe, read_frames, sample_indices, write_video

from conftest import ffmpeg, make_video


def test_probe_counts_frames_and_size(tiny_video):
    info = probe(tiny_video)
    assert (info.frames, info.width, info.height, info.codec) == (8, 64, 48, "h264")
    assert info.fps == pytest.approx(10.0, rel=1e-3) and not info.vfr and info.rotation == 0


def test_rotation_metadata_applied_like_ffmpeg(tmp_path, tiny_video):
    rot = tmp_path / "rot.mp4"
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-display_rotation", "90", "-i",
                    str(tiny_video), "-c", "copy", str(rot)], check=True)
    raw = subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(rot), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    info = probe(rot)
    assert (info.width, info.height) == (48, 64)
    frame = read_frames(rot, [0])[0]
    assert frame.shape == (64, 48, 3)
    np.testing.assert_array_equal(frame, np.frombuffer(raw, np.uint8).reshape(64, 48, 3))


def test_variable_frame_rate_detected(tmp_path):
    vfr = make_video(tmp_path / "vfr.mp4", frames=12, extra=["-vf", "select='not(between(n,3,6))'", "-fps_mode", "vfr"])
    info = probe(vfr)
    assert info.vfr and info.frames == 12
    assert len(list(iter_frames(vfr))) == info.frames


def test_decode_ranges_and_samples(tiny_video):
    assert read_frames(tiny_video, start=2, stop=5).shape == (3, 48, 64, 3)
    assert [i for i, _ in iter_frames(tiny_video, indices=[6, 1, 3])] == [1, 3, 6]
    assert sample_indices(100, 4) == [12, 37, 62, 87]     # spread over the video, not the first 4
    assert sample_indices(3, 10) == [0, 1, 2]


@pytest.mark.parametrize("content,msg", [(b"", "empty file"), (b"hello\n" * 50, "not a readable video")])
def test_bad_files_named(tmp_path, content, msg):
    p = tmp_path / "bad.mp4"
    p.write_bytes(content)
    with pytest.raises(VideoError, match=f"{p}: {msg}"):
        probe(p)


def test_truncated_mp4(tmp_path, tiny_video):
    p = tmp_path / "trunc.mp4"
    p.write_bytes(tiny_video.read_bytes()[:600])
    with pytest.raises(VideoError, match=str(p)):
        probe(p)


def test_writer_is_atomic_and_pads_odd_sizes(tmp_path):
    out = tmp_path / "odd.mp4"
    frames = [np.full((45, 63, 3), i * 20, np.uint8) for i in range(5)]
    w = VideoWriter(out, fps=10)
    w.write(frames[0])
    assert not out.exists(), "nothing under the final name before close()"
    w.abort()
    assert not out.exists() and not list(tmp_path.iterdir())
    write_video(out, frames, fps=10)
    info = probe(out)
    assert (info.frames, info.width, info.height) == (5, 64, 46)


def test_iter_raw_yields_every_frame_as_ffmpeg_decodes_it(tiny_video, tmp_path):
    import av

    from vcbench.errors import VideoError
    from vcbench.video import iter_raw

    raw = list(iter_raw(tiny_video, (64, 48)))
    assert len(raw) == probe(tiny_video).frames and all(len(b) == 64 * 48 * 3 // 2 for b in raw)
    with av.open(str(tiny_video)) as c:
        ys = [f.to_ndarray(format="yuv420p")[:48] for f in c.decode(video=0)]
    for b, y in zip(raw, ys):                      # native size: the luma plane is the decoder's, bit for bit
        assert np.array_equal(np.frombuffer(b, np.uint8)[: 64 * 48].reshape(48, 64), y)
    half = list(iter_raw(tiny_video, (32, 24)))
    assert len(half) == len(raw) and len(half[0]) == 32 * 24 * 3 // 2
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(VideoError, match="bad.mp4"):
        list(iter_raw(bad, (64, 48), downscale=False))
