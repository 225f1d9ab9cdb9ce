import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { makeJob } from "../test/factories";
import { applyEvent, POLICY_VIOLATION, ProgressClient, progressUrl, type SocketLike } from "./progress";
import type { JobEvent, RenderJob, SegmentEvent } from "./types";

class FakeSocket implements SocketLike {
  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  closed: number | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[] = [],
  ) {}
  close(code?: number) {
    this.closed = code ?? 1000;
  }
  send(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) } as MessageEvent);
  }
  serverClose(code: number, reason = "") {
    this.onclose?.({ code, reason } as CloseEvent);
  }
}

function segmentEvent(seq: number, segmentId: string, patch: Partial<SegmentEvent> = {}): SegmentEvent {
  return {
    type: "segment",
    seq,
    job_id: "j1",
    segment_id: segmentId,
    status: "running",
    progress: 0.5,
    reused: false,
    error: null,
    message: null,
    ...patch,
  };
}

function jobEvent(seq: number, patch: Partial<JobEvent> = {}): JobEvent {
  return {
    type: "job",
    seq,
    job_id: "j1",
    status: "generating",
    progress: 0.25,
    error: null,
    video_url: null,
    ...patch,
  };
}

function setup(fetchJob = vi.fn<(id: string) => Promise<RenderJob>>()) {
  const sockets: FakeSocket[] = [];
  const onJob = vi.fn<(job: RenderJob) => void>();
  const onError = vi.fn<(message: string) => void>();
  const onEnd = vi.fn<(reason: string) => void>();
  const client = new ProgressClient(
    {
      jobId: "j1",
      token: "tok.en",
      fetchJob,
      baseUrl: "ws://example.test",
      socketFactory: (url, protocols) => {
        const s = new FakeSocket(url, protocols);
        sockets.push(s);
        return s;
      },
      maxReconnects: 2,
      reconnectDelayMs: 100,
      pollIntervalMs: 1000,
    },
    { onJob, onError, onEnd },
  );
  client.start();
  const socket = () => {
    const s = sockets[sockets.length - 1];
    if (!s) throw new Error("no socket");
    return s;
  };
  const last = () => onJob.mock.calls[onJob.mock.calls.length - 1]?.[0];
  return { client, sockets, socket, onJob, onError, onEnd, fetchJob, last };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("progressUrl", () => {
  it("never carries the token, only the job and where to resume", () => {
    expect(progressUrl("ws://h:1", "j 1")).toBe("ws://h:1/api/render-jobs/j%201/progress");
    expect(progressUrl("ws://h:1", "j1", 7)).toBe("ws://h:1/api/render-jobs/j1/progress?after=7");
  });
});

describe("applyEvent", () => {
  it("updates one segment and leaves the others", () => {
    const job = applyEvent(makeJob(), segmentEvent(1, "s2", { status: "completed", progress: 1, reused: true }));
    expect(job.segments[1]).toMatchObject({ status: "completed", progress: 1, reused: true });
    expect(job.segments[0]?.status).toBe("pending");
  });

  it("never moves a terminal job back", () => {
    const done = makeJob({ status: "completed", progress: 1, video_url: "/v.mp4" });
    expect(applyEvent(done, jobEvent(5))).toBe(done);
  });

  it("shows the job's progress the server sends, not a figure of its own", () => {
    // Half of s1 would weigh 0.225 here; the server counted less of it so far and says so.
    const job = applyEvent(makeJob({ status: "generating" }), segmentEvent(1, "s1", { job_progress: 0.18 }));
    expect(job.progress).toBe(0.18);
    const composing = applyEvent(job, jobEvent(2, { status: "composing", progress: 0.9, job_progress: 0.9 }));
    expect(composing.progress).toBe(0.9);
  });

  it("never lowers the job's progress when a retried segment starts over", () => {
    let job = applyEvent(
      makeJob({ status: "generating" }),
      segmentEvent(1, "s1", { progress: 0.6, job_progress: 0.27 }),
    );
    job = applyEvent(job, segmentEvent(1, "s1", { tick: true, progress: 0.1, job_progress: 0.27 }));
    expect(job.segments[0]?.progress).toBe(0.1);
    expect(job.progress).toBe(0.27);
    // A late figure from another worker's older read does not pull the bar back either.
    job = applyEvent(job, segmentEvent(1, "s2", { tick: true, progress: 0.2, job_progress: 0.25 }));
    expect(job.progress).toBe(0.27);
  });

  it("keeps a known video_url when an event has none", () => {
    const job = applyEvent(makeJob({ video_url: "/v.mp4" }), jobEvent(3, { status: "composing" }));
    expect(job.video_url).toBe("/v.mp4");
  });
});

describe("ProgressClient", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("connects with the token, takes the snapshot, then applies events in order", () => {
    const t = setup();
    expect(t.socket().url).toBe("ws://example.test/api/render-jobs/j1/progress");
    expect(t.socket().protocols).toEqual(["bearer", "tok.en"]);
    t.socket().send({ type: "snapshot", seq: 3, job: makeJob({ seq: 3 }) });
    expect(t.last()?.status).toBe("queued");

    t.socket().send(jobEvent(4));
    t.socket().send(segmentEvent(5, "s1", { progress: 0.4 }));
    expect(t.last()?.status).toBe("generating");
    expect(t.last()?.segments[0]).toMatchObject({ status: "running", progress: 0.4 });
    expect(t.onJob).toHaveBeenCalledTimes(3);
    expect(t.fetchJob).not.toHaveBeenCalled();
  });

  it("ignores events older than the last seq", () => {
    const t = setup();
    t.socket().send({ type: "snapshot", seq: 3, job: makeJob() });
    t.socket().send(segmentEvent(4, "s1", { progress: 0.9 }));
    t.socket().send(segmentEvent(2, "s1", { progress: 0.2 }));
    t.socket().send(segmentEvent(3, "s1", { progress: 0.3 }));
    expect(t.onJob).toHaveBeenCalledTimes(2);
    expect(t.last()?.segments[0]?.progress).toBe(0.9);
  });

  it("applies progress ticks (same seq, partial fields) without a refetch", () => {
    const t = setup();
    t.socket().send({ type: "snapshot", seq: 3, job: makeJob() });
    t.socket().send(segmentEvent(4, "s1", { status: "running", progress: 0, reused: false }));
    t.socket().send({
      type: "segment",
      tick: true,
      seq: 4,
      job_id: "j1",
      segment_id: "s1",
      status: "running",
      progress: 0.6,
      message: "frame 12/24",
    });
    expect(t.last()?.segments[0]).toMatchObject({
      status: "running",
      progress: 0.6,
      message: "frame 12/24",
      reused: false,
      error: null,
    });
    t.socket().send({ type: "job", tick: true, seq: 4, job_id: "j1", status: "composing", progress: 0.95 });
    expect(t.last()).toMatchObject({ status: "composing", progress: 0.95, error: null });
    // the next persisted event continues from seq 4 with no gap
    t.socket().send(segmentEvent(5, "s1", { status: "completed", progress: 1 }));
    // a late tick does not undo the segment's end
    t.socket().send({
      type: "segment",
      tick: true,
      seq: 5,
      job_id: "j1",
      segment_id: "s1",
      status: "running",
      progress: 0.9,
    });
    expect(t.last()?.segments[0]).toMatchObject({ status: "completed", progress: 1 });
    expect(t.fetchJob).not.toHaveBeenCalled();
  });

  it("refetches the job when seq jumps, replaying events that arrive meanwhile", async () => {
    vi.useRealTimers();
    let release!: (job: RenderJob) => void;
    const fetchJob = vi.fn(() => new Promise<RenderJob>((r) => (release = r)));
    const t = setup(fetchJob);
    t.socket().send({ type: "snapshot", seq: 1, job: makeJob() });
    t.socket().send(segmentEvent(4, "s1", { status: "completed", progress: 1 })); // 2 and 3 missed
    expect(fetchJob).toHaveBeenCalledWith("j1");
    t.socket().send(segmentEvent(5, "s2", { progress: 0.3 }));
    expect(t.onJob).toHaveBeenCalledTimes(1); // held back until the refetch answers

    const fetched = makeJob({ status: "generating", progress: 0.5 });
    release(fetched);
    await flush();
    expect(t.onJob).toHaveBeenCalledTimes(2);
    expect(t.last()).toMatchObject({ status: "generating" });
    // The job's figure follows its segments: 0.9 * (0.5 * 1 + 0.5 * 0.3).
    expect(t.last()?.progress).toBeCloseTo(0.585, 4);
    expect(t.last()?.segments[0]).toMatchObject({ status: "completed", progress: 1 });
    expect(t.last()?.segments[1]).toMatchObject({ status: "running", progress: 0.3 });

    t.socket().send(segmentEvent(6, "s2", { progress: 0.6 }));
    expect(t.last()?.segments[1]?.progress).toBe(0.6);
    expect(fetchJob).toHaveBeenCalledTimes(1);
  });

  it("refetches when events arrive before any snapshot", async () => {
    vi.useRealTimers();
    const fetchJob = vi.fn(async () => makeJob({ status: "generating" }));
    const t = setup(fetchJob);
    t.socket().send(jobEvent(7, { progress: 0.7 }));
    await flush();
    expect(fetchJob).toHaveBeenCalledTimes(1);
    expect(t.last()).toMatchObject({ status: "generating", progress: 0.7 });
  });

  it("ends on a terminal job event and does not reconnect when the server closes", () => {
    const t = setup();
    t.socket().send({ type: "snapshot", seq: 1, job: makeJob() });
    t.socket().send(jobEvent(2, { status: "completed", progress: 1, video_url: "/files/v.mp4?sig=x" }));
    expect(t.last()).toMatchObject({ status: "completed", video_url: "/files/v.mp4?sig=x" });
    expect(t.onEnd).toHaveBeenCalledWith("terminal");
    expect(t.client.isEnded).toBe(true);
    t.socket().serverClose(1000);
    vi.advanceTimersByTime(10_000);
    expect(t.sockets).toHaveLength(1);
  });

  it("ends at once when the snapshot is already terminal", () => {
    const t = setup();
    t.socket().send({ type: "snapshot", seq: 9, job: makeJob({ status: "failed", error: "segment s1: rejected" }) });
    expect(t.onEnd).toHaveBeenCalledWith("terminal");
    expect(t.socket().closed).toBe(1000);
  });

  it("treats close code 1008 as final and reports it", () => {
    const t = setup();
    t.socket().serverClose(POLICY_VIOLATION, "invalid token");
    vi.advanceTimersByTime(10_000);
    expect(t.sockets).toHaveLength(1);
    expect(t.onError).toHaveBeenCalledWith("invalid token");
    expect(t.onEnd).toHaveBeenCalledWith("refused");
  });

  it("reconnects with backoff after an unexpected close and takes the new snapshot", () => {
    const t = setup();
    t.socket().send({ type: "snapshot", seq: 1, job: makeJob() });
    t.socket().serverClose(1006);
    expect(t.sockets).toHaveLength(1);
    vi.advanceTimersByTime(100);
    expect(t.sockets).toHaveLength(2);
    expect(t.socket().url).toMatch(/\?after=1$/);
    t.socket().send({ type: "snapshot", seq: 8, job: makeJob({ status: "composing", progress: 0.9 }) });
    expect(t.last()).toMatchObject({ status: "composing", progress: 0.9 });
    t.socket().send(jobEvent(9, { status: "composing", progress: 0.95 }));
    expect(t.last()?.progress).toBe(0.95);
  });

  it("on reconnect with after=, takes the replayed events without a snapshot", () => {
    const t = setup();
    t.socket().send({ type: "snapshot", seq: 2, job: makeJob() });
    t.socket().send(jobEvent(3));
    t.socket().serverClose(1011);
    vi.advanceTimersByTime(100);
    expect(t.socket().url).toMatch(/\?after=3$/);
    t.socket().send(segmentEvent(4, "s1", { status: "completed", progress: 1 }));
    t.socket().send(jobEvent(5, { status: "completed", progress: 1, video_url: "/v.mp4" }));
    expect(t.last()).toMatchObject({ status: "completed", video_url: "/v.mp4" });
    expect(t.fetchJob).not.toHaveBeenCalled();
    expect(t.onEnd).toHaveBeenCalledWith("terminal");
  });

  it("falls back to polling after repeated failures", async () => {
    const fetchJob = vi.fn(async () => makeJob({ status: "generating", progress: 0.5 }));
    const t = setup(fetchJob);
    t.socket().serverClose(1006);
    await vi.advanceTimersByTimeAsync(100);
    t.socket().serverClose(1006);
    await vi.advanceTimersByTimeAsync(200);
    t.socket().serverClose(1006); // third failure > maxReconnects (2)
    expect(t.sockets).toHaveLength(3);
    expect(t.onError).toHaveBeenCalledWith(expect.stringMatching(/refreshing periodically/));
    await vi.advanceTimersByTimeAsync(1000);
    expect(fetchJob).toHaveBeenCalledTimes(1);
    expect(t.last()?.progress).toBe(0.5);
    fetchJob.mockResolvedValue(makeJob({ status: "completed", progress: 1 }));
    await vi.advanceTimersByTimeAsync(1000);
    expect(t.onEnd).toHaveBeenCalledWith("terminal");
    await vi.advanceTimersByTimeAsync(5000);
    expect(fetchJob).toHaveBeenCalledTimes(2);
  });

  it("stop() closes the socket and silences it", () => {
    const t = setup();
    const s = t.socket();
    t.client.stop();
    expect(s.closed).toBe(1000);
    expect(t.onEnd).toHaveBeenCalledWith("stopped");
    s.send({ type: "snapshot", seq: 1, job: makeJob() });
    expect(t.onJob).not.toHaveBeenCalled();
  });
});

describe("the figure shown never goes lower", () => {
  const shown = (t: ReturnType<typeof setup>) => t.onJob.mock.calls.map(([job]) => job.progress);
  const neverLower = (figures: number[]) => expect(figures).toEqual([...figures].sort((a, b) => a - b));

  it("keeps the bar where it is on a lower figure, from an event, a tick or a job event", () => {
    const t = setup();
    t.socket().send({ type: "snapshot", seq: 1, job: makeJob({ status: "generating", progress: 0.4 }) });
    t.socket().send(segmentEvent(2, "s1", { progress: 0.1, job_progress: 0.2 }));
    t.socket().send(segmentEvent(2, "s2", { tick: true, progress: 0.2, job_progress: 0.3 }));
    t.socket().send(jobEvent(3, { progress: 0.1 }));
    expect(shown(t)).toEqual([0.4, 0.4, 0.4, 0.4]);
    t.socket().send(segmentEvent(4, "s1", { progress: 0.9, job_progress: 0.5 }));
    expect(t.last()?.progress).toBe(0.5);
  });

  it("ignores replayed events and takes a lagging snapshot after a reconnect without going back", () => {
    vi.useFakeTimers();
    const t = setup();
    t.socket().send({ type: "snapshot", seq: 1, job: makeJob({ status: "generating", progress: 0.1 }) });
    // The server's figures: 0.9 * 0.5 * 0.8, then 0.9 * (0.5 * 0.8 + 0.5 * 0.6).
    t.socket().send(segmentEvent(2, "s1", { progress: 0.8, job_progress: 0.36 }));
    t.socket().send(segmentEvent(3, "s2", { progress: 0.6, job_progress: 0.63 }));
    t.socket().serverClose(1006);
    vi.advanceTimersByTime(100);
    expect(t.socket().url).toContain("after=3");
    // The server replays from an older point, then sends a snapshot read before the last save.
    t.socket().send(segmentEvent(2, "s1", { progress: 0.8, job_progress: 0.36 }));
    t.socket().send(segmentEvent(3, "s2", { progress: 0.2, job_progress: 0.3 }));
    t.socket().send({ type: "snapshot", seq: 3, job: makeJob({ status: "generating", progress: 0.5 }) });
    neverLower(shown(t));
    expect(t.last()?.progress).toBe(0.63);
    vi.useRealTimers();
  });

  it("keeps the bar through events out of order and a refetch that lags them", async () => {
    vi.useRealTimers();
    let release!: (job: RenderJob) => void;
    const t = setup(vi.fn(() => new Promise<RenderJob>((r) => (release = r))));
    t.socket().send({ type: "snapshot", seq: 1, job: makeJob({ status: "generating", progress: 0.3 }) });
    t.socket().send(segmentEvent(2, "s1", { progress: 0.9, job_progress: 0.5 }));
    t.socket().send(segmentEvent(4, "s2", { progress: 0.4, job_progress: 0.55 })); // 3 is late: refetch
    t.socket().send(segmentEvent(3, "s2", { progress: 0.1, job_progress: 0.35 })); // arrives after 4
    release(makeJob({ status: "generating", progress: 0.4 })); // read before event 2 was saved
    await flush();
    neverLower(shown(t));
    expect(t.last()?.progress).toBe(0.55);
  });
});
