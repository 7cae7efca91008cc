"""Audio modality: decode speech, turn it into the Wav2Lip mel spectrogram, and cut it into per-frame windows.

Speech drives the mouth, so every clip is reduced to the front end the lip-sync field shares (Wav2Lip,
StyleSync): 16 kHz mono float32 audio in [-1, 1]; pre-emphasis 0.97; STFT with n_fft 800, hop 200 (12.5 ms, so
80 mel frames per second) and an 800-sample Hann window, centred with reflect padding; amplitude spectrum; 80
Slaney mel bands from 55 to 7600 Hz; 20*log10 with a floor of 1e-5 (-100 dB) minus a reference level of 20 dB;
then a symmetric scaling to [-4, 4], where -4 is silence. Mel column c is centred on sample 200 c (time c / 80 s)
and covers samples 200 c - 400 .. 200 c + 400. At 25 fps one video frame spans 3.2 mel columns.

A window is 16 columns (0.2 s, 5 video frames). The window of video frame t starts at column
floor(80 * (t + offset) / 25):

- offset 0 is the sync expert's window (Wav2Lip's convention): it belongs to the 5 frames t .. t+4 and covers
  t / 25 .. t / 25 + 0.2 s;
- the generator's per-frame window uses ``data.audio_offset_frames`` (default -2): columns 3.2 t - 6.4 .. + 16, i.e.
  (t - 2) / 25 .. (t + 3) / 25 s, centred on frame t's moment (t + 0.5) / 25 s, where its phoneme window is centred
  too (``facekit.data.text``). The default was chosen by measurement: ``eval/results/av_alignment/``.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
FPS = 25
NUM_MELS = 80
HOP = 200
N_FFT = 800
WIN = 800
FMIN = 55.0
FMAX = 7600.0
PREEMPHASIS = 0.97
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS_VALUE = 4.0
MEL_FPS = SAMPLE_RATE / HOP  # 80 mel frames per second
MEL_WINDOW = 16  # mel frames per video-frame window (0.2 s)
SILENCE_VALUE = -MAX_ABS_VALUE  # normalised value of a column with no energy
PCM_SCALE = 32767  # int16 <-> float: x = pcm / 32767, so full scale is +-1 both ways and a round trip is exact


class AudioError(ValueError):
    """Audio that cannot be used; the message names the file (where there is one) and says what to do."""


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode the first audio stream of any file FFmpeg reads (wav, flac, mp3, ogg, mpg, mp4, mkv, ...).

    Decoding uses PyAV; samples are converted to planar float, mixed to mono by the mean over channels, and
    resampled from the native rate with ``librosa.resample(res_type="soxr_hq")`` when the rates differ.
    Returns float32 of shape (N,) with values clipped to [-1, 1]. Raises AudioError (naming the path) when the
    file is missing, unreadable or corrupt, has no audio track, or decodes to zero samples.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}; check the path")
    if path.stat().st_size == 0:
        raise AudioError(f"{path} is empty (0 bytes); supply a non-empty audio or video file")
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(
                    f"{path} has no audio track; supply speech audio with --audio or use a clip with sound"
                )
            stream = container.streams.audio[0]
            native_rate = stream.rate or stream.codec_context.sample_rate
            # the resampler keeps layout and rate and only converts the sample format to planar float
            to_float = av.AudioResampler(format="fltp")
            for frame in container.decode(stream):
                native_rate = frame.sample_rate or native_rate  # decoded rate wins (e.g. HE-AAC doubles it)
                chunks.extend(out.to_ndarray() for out in to_float.resample(frame))
            chunks.extend(out.to_ndarray() for out in to_float.resample(None))
    except av.FFmpegError as err:
        raise AudioError(f"cannot decode {path} ({err}); the file is corrupt or not audio/video, re-export it") from err
    if not chunks or sum(chunk.shape[1] for chunk in chunks) == 0:
        raise AudioError(f"{path} decoded to zero audio samples; supply a file that contains sound")
    wav = np.concatenate(chunks, axis=1).mean(axis=0)
    if native_rate != sample_rate:
        import librosa

        wav = librosa.resample(wav, orig_sr=native_rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.clip(wav, -1.0, 1.0).astype(np.float32)


def save_wav(path: str | Path, wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono float audio of shape (N,), values in [-1, 1] (clipped), as 16-bit PCM wav via soundfile."""
    import soundfile

    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim != 1:
        raise AudioError(f"save_wav expects mono audio of shape (N,), got {wav.shape} for {path}; mix to mono first")
    soundfile.write(str(path), np.clip(wav, -1.0, 1.0), sample_rate, subtype="PCM_16")


def pcm_to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 samples (N,) -> float32 (N,) in [-1, 1] (-32768 gives -1.00003): ``pcm / PCM_SCALE``."""
    pcm = np.asarray(pcm)
    if pcm.dtype != np.int16:
        raise AudioError(f"pcm_to_float expects int16 samples, got {pcm.dtype}; float audio is already in [-1, 1]")
    return pcm.astype(np.float32) / np.float32(PCM_SCALE)


def float_to_pcm(wav: np.ndarray) -> np.ndarray:
    """float audio (N,) in [-1, 1] (clipped) -> int16 (N,): ``round(wav * PCM_SCALE)``, the inverse of pcm_to_float."""
    wav = np.asarray(wav)
    if not np.issubdtype(wav.dtype, np.floating):
        raise AudioError(f"float_to_pcm expects float samples in [-1, 1], got {wav.dtype}")
    return np.round(np.clip(wav, -1.0, 1.0) * PCM_SCALE).astype(np.int16)  # in wav's own float precision


@lru_cache(maxsize=4)
def _mel_basis(sample_rate: int) -> np.ndarray:
    """Slaney mel filter bank of shape (NUM_MELS, N_FFT // 2 + 1), read-only and cached."""
    import librosa

    basis = librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=NUM_MELS, fmin=FMIN, fmax=FMAX)
    basis.setflags(write=False)
    return basis


def melspectrogram(wav: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Wav2Lip mel spectrogram of mono audio of shape (N,) in [-1, 1] at 16 kHz.

    Steps: pre-emphasis ``lfilter([1, -0.97], [1], wav)``; ``librosa.stft(n_fft=800, hop_length=200,
    win_length=800, center=True, pad_mode="reflect")`` (Wav2Lip's librosa 0.7 padded by reflection while
    new librosa defaults to constant padding, so the mode is pinned); magnitude |D| (amplitude, not power);
    80 mel bands 55-7600 Hz; ``20 * log10(max(1e-5, mel)) - 20``; ``clip(8 * ((S + 100) / 100) - 4, -4, 4)``.
    Returns float32 of shape (80, M) with M = 1 + N // 200, values in [-4, 4] (-4 is silence).
    Raises AudioError when sample_rate is not 16000 or wav is empty.
    """
    import librosa
    from scipy.signal import lfilter

    if sample_rate != SAMPLE_RATE:
        raise AudioError(f"melspectrogram needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz; resample first")
    wav = np.asarray(wav, dtype=np.float64)
    if wav.ndim != 1:
        raise AudioError(f"melspectrogram expects mono audio of shape (N,), got {wav.shape}; mix to mono first")
    if wav.size == 0:
        raise AudioError("melspectrogram got empty audio (0 samples); supply at least one sample of speech")
    emphasised = lfilter([1.0, -PREEMPHASIS], [1.0], wav)
    with warnings.catch_warnings():  # clips shorter than n_fft are fine: centring pads them
        warnings.filterwarnings("ignore", message="n_fft=.* is too large")
        spectrum = librosa.stft(
            emphasised, n_fft=N_FFT, hop_length=HOP, win_length=WIN, center=True, pad_mode="reflect"
        )
    mel = _mel_basis(sample_rate) @ np.abs(spectrum)
    min_level = 10.0 ** (MIN_LEVEL_DB / 20.0)  # 1e-5
    db = 20.0 * np.log10(np.maximum(min_level, mel)) - REF_LEVEL_DB
    scaled = 2 * MAX_ABS_VALUE * ((db - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS_VALUE
    return np.clip(scaled, -MAX_ABS_VALUE, MAX_ABS_VALUE).astype(np.float32)


def mel_window_start(t: int, fps: float = FPS, offset_frames: int = 0) -> int:
    """First mel column of the window for video frame t >= 0: ``floor(MEL_FPS * (t + offset_frames) / fps)``.

    ``offset_frames`` 0 is the sync expert's window of frames t .. t+4 (``int(80 t / 25)`` at 25 fps); the generator
    uses ``data.audio_offset_frames`` (see the module docstring). The start may be negative (columns before the audio
    are silence). The product is formed before the division so that whole results are exact in floating point.
    """
    if t < 0:
        raise ValueError(f"video frame index must be >= 0, got {t}")
    return math.floor(MEL_FPS * (t + offset_frames) / fps)


def _check_mel(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 2:
        raise ValueError(f"mel must have shape (num_mels, M), got {mel.shape}")
    return mel


def mel_window(mel: np.ndarray, t: int, fps: float = FPS, offset_frames: int = 0) -> np.ndarray:
    """The (num_mels, 16) float32 window of a (num_mels, M) mel spectrogram for video frame t.

    Columns ``start .. start + 16`` with start = mel_window_start(t, fps, offset_frames). Columns before the start
    or past the end of the spectrogram are filled with -4.0, the normalised value of silence: Wav2Lip drops such
    frames, facekit keeps every frame so that a whole video can be generated.
    """
    mel = _check_mel(mel)
    start = mel_window_start(t, fps, offset_frames)
    window = np.full((mel.shape[0], MEL_WINDOW), SILENCE_VALUE, dtype=np.float32)
    lo, hi = max(start, 0), max(min(start + MEL_WINDOW, mel.shape[1]), 0)
    window[:, lo - start : lo - start + max(hi - lo, 0)] = mel[:, lo:hi]
    return window


def mel_windows(mel: np.ndarray, num_frames: int, fps: float = FPS, offset_frames: int = 0) -> np.ndarray:
    """Windows for video frames 0 .. num_frames - 1: float32 of shape (num_frames, num_mels, 16).

    Equal to stacking ``mel_window(mel, t, fps, offset_frames)``; the spectrogram is padded once with -4.0
    (silence) on both sides and indexed in one go.
    """
    mel = _check_mel(mel)
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    starts = np.floor(MEL_FPS * (np.arange(num_frames) + offset_frames) / fps).astype(np.int64)
    before = max(0, -int(starts.min())) if num_frames else 0
    after = max(0, int(starts.max()) + MEL_WINDOW - mel.shape[1]) if num_frames else 0
    padded = np.pad(mel, ((0, 0), (before, after)), constant_values=SILENCE_VALUE)
    columns = before + starts[:, None] + np.arange(MEL_WINDOW)  # (num_frames, 16)
    return np.ascontiguousarray(padded[:, columns].transpose(1, 0, 2))


def num_video_frames(num_samples: int, sample_rate: int = SAMPLE_RATE, fps: float = FPS) -> int:
    """Video frames covered by num_samples of audio: ``floor(num_samples * fps / sample_rate)``."""
    return math.floor(num_samples * fps / sample_rate)


def is_silent(wav: np.ndarray, threshold_db: float = -60.0) -> bool:
    """True when the RMS of audio in [-1, 1] is below threshold_db dBFS (a full-scale square wave is 0 dBFS).

    Empty audio counts as silent.
    """
    wav = np.asarray(wav, dtype=np.float64)
    if wav.size == 0:
        return True
    rms = math.sqrt(float(np.mean(wav**2)))
    return rms == 0.0 or 20.0 * math.log10(rms) < threshold_db
