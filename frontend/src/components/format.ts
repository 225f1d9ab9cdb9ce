/** A length of time: `1.5 s` under a minute, `2:05.5` (minutes, seconds) from one up. */
export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return "–";
  // Rounded before it is split, so 119.96 s is 2:00, not 1:60.0.
  if (Math.round(seconds * 100) < 6000) return `${Number(seconds.toFixed(2))} s`;
  const tenths = Math.round(seconds * 10);
  const m = Math.floor(tenths / 600);
  const s = (tenths % 600) / 10;
  const text = Number.isInteger(s) ? String(s) : s.toFixed(1);
  return `${m}:${text.padStart(Number.isInteger(s) ? 2 : 4, "0")}`;
}

/**
 * A point on the timeline as a timecode at the project's frame rate, `HH:MM:SS:FF` (the frame
 * showing then: a partial frame is dropped). The monitor, the inspector and the ruler all write
 * times with this; `frames: false` gives `HH:MM:SS`, for ruler ticks that are all on whole seconds.
 */
export function formatTimecode(time: number, fps: number, { frames = true }: { frames?: boolean } = {}): string {
  const rate = Math.max(1, Math.round(fps));
  // The epsilon keeps a time already on a frame boundary (3 / 24 in floating point) on its frame.
  const totalFrames = Math.floor(Math.max(0, time) * rate + 1e-6);
  const totalSeconds = Math.floor(totalFrames / rate);
  const pad = (n: number) => String(n).padStart(2, "0");
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const hms = `${pad(h)}:${pad(m)}:${pad(totalSeconds % 60)}`;
  return frames ? `${hms}:${pad(totalFrames % rate)}` : hms;
}

export function formatCost(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "–";
  if (value === 0) return "free";
  return `$${value < 0.01 ? value.toFixed(4) : value.toFixed(2)}`;
}

export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString();
}
