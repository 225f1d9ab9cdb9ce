/**
 * The monitor's playback clock. Timeline time lives here, outside React state: it advances on
 * requestAnimationFrame and listeners (the playhead, the timecode, the videos) update the DOM
 * directly, so playback does not re-render the editor 60 times a second. React components only
 * re-render on coarse changes (play/pause, the segment under the playhead).
 */
import { clampTime, frameFloor } from "./timeMap";

export interface ClockState {
  time: number;
  playing: boolean;
}

type Listener = (state: ClockState) => void;

export interface ClockOptions {
  now?: () => number;
  requestFrame?: (callback: () => void) => number;
  cancelFrame?: (handle: number) => void;
}

export class PlaybackClock {
  private time = 0;
  private playing = false;
  private duration = 0;
  /** While set, playback stops at its end (a segment played alone). */
  private range: { start: number; end: number } | null = null;
  /** A clip that has not got its frame yet holds the clock, so picture and time stay together. */
  private stalled = false;
  private anchorWall = 0;
  private anchorTime = 0;
  private frame: number | null = null;
  private readonly listeners = new Set<Listener>();
  private readonly now: () => number;
  private readonly requestFrame: (callback: () => void) => number;
  private readonly cancelFrame: (handle: number) => void;
  private snapshot: ClockState = { time: 0, playing: false };

  constructor(options: ClockOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.requestFrame = options.requestFrame ?? ((cb) => requestAnimationFrame(cb));
    this.cancelFrame = options.cancelFrame ?? ((h) => cancelAnimationFrame(h));
  }

  get state(): ClockState {
    return this.snapshot;
  }

  get end(): number {
    return this.range ? this.range.end : this.duration;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setDuration(duration: number): void {
    this.duration = Math.max(0, duration);
    if (this.range && this.range.end > this.duration) this.range = null;
    if (this.time > this.duration) this.seek(this.duration);
  }

  play(): void {
    if (this.playing) return;
    if (this.time >= this.end - 1e-6) this.time = this.range ? this.range.start : 0;
    if (this.end <= 0) return;
    this.playing = true;
    this.reanchor();
    this.schedule();
    this.emit();
  }

  /** Play `[start, end)` once, then stop (each segment played alone). */
  playRange(start: number, end: number): void {
    this.pause();
    this.range = { start: clampTime(start, this.duration), end: clampTime(end, this.duration) };
    this.time = this.range.start;
    this.play();
  }

  pause(): void {
    if (!this.playing) return;
    this.advance();
    this.playing = false;
    if (this.frame !== null) this.cancelFrame(this.frame);
    this.frame = null;
    this.emit();
  }

  toggle(): void {
    if (this.playing) this.pause();
    else this.play();
  }

  seek(time: number): void {
    this.range = null;
    this.time = clampTime(time, this.duration);
    this.reanchor();
    this.emit();
  }

  /** Move by whole frames from the frame showing now; pauses, as editors do. */
  step(frames: number, fps: number): void {
    this.pause();
    this.seek(frameFloor(this.time, fps) + frames / fps);
  }

  setStalled(stalled: boolean): void {
    if (this.stalled === stalled) return;
    this.advance();
    this.stalled = stalled;
    this.reanchor();
  }

  dispose(): void {
    if (this.frame !== null) this.cancelFrame(this.frame);
    this.frame = null;
    this.playing = false;
    this.listeners.clear();
  }

  /** Advance to the wall clock now; exposed so tests can drive it without animation frames. */
  tick(): void {
    this.frame = null;
    if (!this.playing) return;
    this.advance();
    if (this.time >= this.end) {
      this.time = this.end;
      this.playing = false;
      this.range = null;
      this.emit();
      return;
    }
    this.emit();
    this.schedule();
  }

  private advance(): void {
    if (!this.playing || this.stalled) return;
    const wall = this.now();
    this.time = Math.min(this.anchorTime + (wall - this.anchorWall) / 1000, this.end);
    this.reanchor(wall);
  }

  private reanchor(wall = this.now()): void {
    this.anchorWall = wall;
    this.anchorTime = this.time;
  }

  private schedule(): void {
    if (this.frame === null) this.frame = this.requestFrame(() => this.tick());
  }

  private emit(): void {
    this.snapshot = { time: this.time, playing: this.playing };
    for (const listener of this.listeners) listener(this.snapshot);
  }
}
