"""A clip's sound, as a video model with audio makes it (LTX-2): float samples by channel at a sample rate; written
as 16-bit PCM WAV (lossless for what it stores, so a config remakes its bytes) and as AAC in an MP4."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, eq=False)
class Sound:
    samples: Any  # a float32 numpy array, (channels, samples), full scale at -1 and 1
    rate: int  # samples a second

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    def pcm16(self) -> Any:
        """The samples as 16-bit integers, interleaved by channel (clipped to full scale, rounded to nearest)."""
        import numpy as np

        scaled = np.clip(self.samples, -1.0, 1.0) * 32767.0
        return np.rint(scaled).astype("<i2").T.copy()


def wav_bytes(sound: Sound) -> bytes:
    """A 16-bit PCM WAV file of `sound`."""
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(sound.channels)
        wav.setsampwidth(2)
        wav.setframerate(sound.rate)
        wav.writeframes(sound.pcm16().tobytes())
    return buffer.getvalue()
