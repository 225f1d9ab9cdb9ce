/**
 * Live render progress over the WebSocket `/api/render-jobs/{id}/progress`, authenticated by the
 * subprotocol pair `bearer, <token>` (a token in the URL would end up in access logs).
 *
 * Protocol: the first message is a `snapshot` (the whole job), then `segment` and `job` events,
 * each with a per-job `seq`; progress ticks repeat the last seq. The server closes after a
 * terminal job event. A gap in `seq` means events were missed, so the job is refetched over HTTP
 * (events arriving meanwhile are replayed on top of the fetched job). An unexpected close
 * reconnects with backoff and `after=<last seq>`, so the server replays what was missed (a
 * server that sends a fresh snapshot instead works too); after too many failures in a row the
 * client polls over HTTP. Close code 1008 (bad token, or not this user's job) is final.
 */
import { withProgress } from "./jobProgress";
import type { Id, JobEvent, ProgressEvent, RenderJob, SegmentEvent } from "./types";
import { isTerminal } from "./types";

/** The part of the browser WebSocket this client uses, so tests can pass a fake. */
export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string, protocols: string[]) => SocketLike;

export interface ProgressHandlers {
  /** Every new state of the job (snapshot, event applied, refetch). */
  onJob: (job: RenderJob) => void;
  /** A problem worth showing; the client may still recover by itself. */
  onError?: (message: string) => void;
  /** The stream ended for good: the job is terminal, access was refused, or stop() was called. */
  onEnd?: (reason: "terminal" | "refused" | "stopped") => void;
}

export interface ProgressOptions {
  jobId: Id;
  token: string;
  fetchJob: (id: Id) => Promise<RenderJob>;
  socketFactory?: SocketFactory;
  /** Base URL like "ws://host:port"; defaults to the page's origin. */
  baseUrl?: string;
  maxReconnects?: number;
  reconnectDelayMs?: number;
  pollIntervalMs?: number;
}

export const POLICY_VIOLATION = 1008;

const TERMINAL_SEGMENT_STATUSES = new Set(["completed", "failed", "cancelled"]);

/** Fields of `patch` that are present, so partial events (ticks) leave the rest alone. */
function defined<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Apply one `segment` or `job` event to a job, returning a new job object. */
export function applyEvent(job: RenderJob, event: SegmentEvent | JobEvent): RenderJob {
  if (event.type === "segment") {
    const patch = defined({
      status: event.status,
      progress: event.progress,
      reused: event.reused,
      error: event.error,
      message: event.message,
    });
    let found = false;
    const segments = job.segments.map((seg) => {
      if (seg.segment_id !== event.segment_id) return seg;
      found = true;
      // A tick travels outside the ordered stream and may arrive late: it never undoes an end.
      if (event.tick && TERMINAL_SEGMENT_STATUSES.has(seg.status)) return seg;
      return { ...seg, ...patch };
    });
    if (!found) {
      segments.push({
        segment_id: event.segment_id,
        position: segments.length,
        status: event.status,
        progress: event.progress,
        reused: event.reused ?? false,
        error: event.error ?? null,
        message: event.message ?? null,
        weight: 0,
      });
    }
    // The server's figure for the job when the event carries it (the one its job view gives);
    // older events carry only the segment's, and the job's follows from all of them.
    if (typeof event.job_progress === "number") {
      return { ...job, segments, progress: Math.max(job.progress, event.job_progress) };
    }
    return withProgress({ ...job, segments });
  }
  // A terminal state is final: a late or replayed event must not move the job back.
  if (isTerminal(job.status) && !isTerminal(event.status)) return job;
  const next: RenderJob = {
    ...job,
    ...defined({
      status: event.status,
      error: event.error,
      duration: event.duration,
    }),
    video_url: event.video_url ?? job.video_url,
  };
  if (typeof event.job_progress === "number") {
    return { ...next, progress: Math.max(job.progress, event.job_progress) };
  }
  // A job event's progress may lag the segments it summarises; the bar never goes back.
  return withProgress({ ...next, progress: Math.max(job.progress, event.progress ?? 0) });
}

function defaultBaseUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === "https:" ? "wss:" : "ws:"}//${host}`;
}

export function progressUrl(baseUrl: string, jobId: Id, after?: number | null): string {
  const url = `${baseUrl}/api/render-jobs/${encodeURIComponent(jobId)}/progress`;
  return after === undefined || after === null ? url : `${url}?after=${after}`;
}

/** The subprotocols that carry the bearer token (the server answers with "bearer"). */
export function bearerProtocols(token: string): string[] {
  return ["bearer", token];
}

export class ProgressClient {
  private readonly options: Required<Omit<ProgressOptions, "baseUrl">> & { baseUrl: string | undefined };
  private readonly handlers: ProgressHandlers;
  private socket: SocketLike | null = null;
  private job: RenderJob | null = null;
  private lastSeq: number | null = null;
  private refetching = false;
  private pendingEvents: (SegmentEvent | JobEvent)[] = [];
  private attempts = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private ended = false;
  /** Bumped by every snapshot, so a refetch started before one does not overwrite it. */
  private generation = 0;

  constructor(options: ProgressOptions, handlers: ProgressHandlers) {
    this.options = {
      socketFactory: (url, protocols) => new WebSocket(url, protocols),
      maxReconnects: 5,
      reconnectDelayMs: 500,
      pollIntervalMs: 2000,
      ...options,
      baseUrl: options.baseUrl,
    };
    this.handlers = handlers;
  }

  get current(): RenderJob | null {
    return this.job;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  start(): void {
    if (this.socket || this.ended) return;
    this.connect();
  }

  stop(): void {
    this.finish("stopped");
  }

  private connect(): void {
    // On a reconnect, `after` asks the server to replay what was missed instead of a snapshot.
    const after = this.job !== null && !this.refetching ? this.lastSeq : null;
    const url = progressUrl(this.options.baseUrl ?? defaultBaseUrl(), this.options.jobId, after);
    let socket: SocketLike;
    try {
      socket = this.options.socketFactory(url, bearerProtocols(this.options.token));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onmessage = (ev) => this.handleMessage(ev.data);
    socket.onerror = () => undefined; // a close follows; handled there
    socket.onclose = (ev) => this.handleClose(socket, ev.code, ev.reason);
  }

  /** Exposed for tests; the socket calls it with each message's text. */
  handleMessage(data: unknown): void {
    if (this.ended) return;
    let event: ProgressEvent;
    try {
      event = JSON.parse(String(data)) as ProgressEvent;
    } catch {
      return;
    }
    if (event.type === "snapshot") {
      this.attempts = 0;
      this.generation += 1;
      this.lastSeq = event.seq;
      this.pendingEvents = [];
      this.setJob(event.job);
      return;
    }
    if (event.type !== "segment" && event.type !== "job") return;
    this.attempts = 0;
    if (this.lastSeq !== null && event.seq < this.lastSeq) return; // replayed, already applied
    if (this.lastSeq !== null && event.seq === this.lastSeq) {
      // A progress tick (it repeats the last seq) or a harmless re-send: apply, no seq change.
      if (this.refetching) this.pendingEvents.push(event);
      else if (this.job) this.setJob(applyEvent(this.job, event));
      return;
    }
    const gap = this.lastSeq === null || event.seq > this.lastSeq + 1;
    this.lastSeq = event.seq;
    if (this.refetching) {
      this.pendingEvents.push(event);
      return;
    }
    if (gap || this.job === null) {
      this.pendingEvents.push(event);
      void this.refetch();
      return;
    }
    this.setJob(applyEvent(this.job, event));
  }

  private async refetch(): Promise<void> {
    this.refetching = true;
    const generation = this.generation;
    try {
      const fetched = await this.options.fetchJob(this.options.jobId);
      if (this.ended || generation !== this.generation) return;
      let job = fetched;
      for (const ev of this.pendingEvents) job = applyEvent(job, ev);
      this.pendingEvents = [];
      this.setJob(job);
    } catch {
      if (this.ended || generation !== this.generation) return;
      // Keep what we have: apply the buffered events to the last known job if there is one.
      if (this.job) {
        let job = this.job;
        for (const ev of this.pendingEvents) job = applyEvent(job, ev);
        this.setJob(job);
      }
      this.pendingEvents = [];
      this.handlers.onError?.("Lost some progress updates and could not refresh the job.");
    } finally {
      this.refetching = false;
    }
  }

  private setJob(next: RenderJob): void {
    // The same job never shows less progress than it already did (a refetch may lag ticks).
    const job = this.job && this.job.id === next.id ? withProgress(next, this.job.progress) : withProgress(next);
    this.job = job;
    this.handlers.onJob(job);
    if (isTerminal(job.status)) this.finish("terminal");
  }

  private handleClose(socket: SocketLike, code: number, reason: string): void {
    if (socket !== this.socket) return;
    this.socket = null;
    if (this.ended) return;
    if (code === POLICY_VIOLATION) {
      this.handlers.onError?.(reason || "Not allowed to watch this render (sign in again).");
      this.finish("refused");
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.ended) return;
    this.attempts += 1;
    if (this.attempts > this.options.maxReconnects) {
      this.handlers.onError?.("Live updates unavailable; refreshing periodically instead.");
      this.poll();
      return;
    }
    const delay = this.options.reconnectDelayMs * 2 ** (this.attempts - 1);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  private poll(): void {
    if (this.ended) return;
    this.timer = setTimeout(async () => {
      this.timer = null;
      try {
        const job = await this.options.fetchJob(this.options.jobId);
        if (this.ended) return;
        this.setJob(job);
      } catch {
        // keep polling; the banner already says updates are degraded
      }
      this.poll();
    }, this.options.pollIntervalMs);
  }

  private finish(reason: "terminal" | "refused" | "stopped"): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = null;
      // On a terminal event the server closes; closing here too is harmless and frees it sooner.
      try {
        socket.close(1000);
      } catch {
        // already closed
      }
    }
    this.handlers.onEnd?.(reason);
  }
}
