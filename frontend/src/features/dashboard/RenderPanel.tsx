import { estimateRemaining, formatEta } from "../../api/jobProgress";
import type { RenderJob, RenderJobSegment, RenderPlan, Segment } from "../../api/types";
import { isTerminal } from "../../api/types";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatCost, formatDate, formatSeconds } from "../../components/format";
import { ProgressBar } from "../../components/ProgressBar";
import { StatusBadge } from "../../components/StatusBadge";
import { useAppShallow } from "../../store";
import { useSegments } from "../timeline/useProject";
import { ContactSheet } from "./ContactSheet";
import { useRenderJobs } from "./queries";
import { useCancelRender, useRenderPlan, useStartRender } from "./useRender";
import { useShownJob } from "./useShownJob";

/** Plan, start, watch and cancel renders of the open project; play and download the result. */
export function RenderPanel() {
  const s = useAppShallow((st) => ({
    projectId: st.projectId,
    planOpen: st.planOpen,
    progressNotice: st.progressNotice,
    openPlan: st.openPlan,
    dismissPlan: st.dismissPlan,
  }));
  const segments = useSegments();
  const activeJob = useShownJob();
  const lastCompletedJobId = useRenderJobs(s.projectId).data?.items.find((j) => j.status === "completed")?.id ?? null;
  const plan = useRenderPlan();
  const start = useStartRender();
  const cancel = useCancelRender();
  const running = activeJob !== null && !isTerminal(activeJob.status);
  const planning = s.planOpen && plan.isFetching;
  const renderError = start.error ?? cancel.error;

  return (
    <section className="card render-panel" aria-label="Render">
      <div className="row between">
        <h2>Render</h2>
        <button
          type="button"
          className="primary"
          onClick={() => {
            start.reset();
            cancel.reset();
            s.openPlan();
          }}
          disabled={segments.length === 0 || planning || start.isPending || running}
          title={segments.length === 0 ? "Add a segment first" : running ? "A render is in progress" : undefined}
        >
          {planning ? "Planning…" : "Render"}
        </button>
      </div>
      <ErrorBanner message={s.planOpen && plan.error ? plan.error.message : null} onDismiss={s.dismissPlan} />
      <ErrorBanner
        message={renderError?.message ?? null}
        onDismiss={() => {
          start.reset();
          cancel.reset();
        }}
      />
      {s.planOpen && plan.data && !plan.isFetching && (
        <PlanView
          plan={plan.data}
          segments={segments}
          starting={start.isPending}
          onStart={() => start.mutate()}
          onDismiss={s.dismissPlan}
        />
      )}
      {activeJob && (
        <JobView
          job={activeJob}
          segments={segments}
          notice={s.progressNotice}
          cancelling={cancel.isPending}
          onCancel={() => cancel.mutate()}
        />
      )}
      {/* Nothing to show before a segment has been generated: no toggle in an empty project. */}
      {s.projectId && segments.some((seg) => seg.state === "ready") && (
        <ContactSheet projectId={s.projectId} refreshKey={lastCompletedJobId} />
      )}
    </section>
  );
}

function segmentLabel(segments: Segment[], id: string, position: number): string {
  const seg = segments.find((x) => x.id === id);
  return seg ? `${position + 1}. ${seg.prompt}` : `${position + 1}. (removed segment)`;
}

/** A job's segment as that job rendered it (its snapshot), whatever was edited since. */
function jobSegmentLabel(seg: RenderJobSegment, segments: Segment[]): string {
  if (seg.prompt !== undefined && seg.prompt !== null) return `${seg.position + 1}. ${seg.prompt}`;
  return segmentLabel(segments, seg.segment_id, seg.position);
}

function PlanView({
  plan,
  segments,
  starting,
  onStart,
  onDismiss,
}: {
  plan: RenderPlan;
  segments: Segment[];
  starting: boolean;
  onStart: () => void;
  onDismiss: () => void;
}) {
  const generate = plan.segments.filter((x) => x.action === "generate").length;
  const reuse = plan.segments.length - generate;
  return (
    <section className="plan" aria-label="Render plan">
      <h3>Plan</h3>
      <p>
        {generate} to generate, {reuse} reused
        {plan.compose ? ", then compose the final video" : ", final video already up to date"}. Estimated cost:{" "}
        <strong data-testid="plan-cost">{formatCost(plan.total_estimated_cost)}</strong>
      </p>
      <table className="plan-table">
        <thead>
          <tr>
            <th>Segment</th>
            <th>Action</th>
            <th className="num">Est. cost</th>
          </tr>
        </thead>
        <tbody>
          {[...plan.segments]
            .sort((a, b) => a.position - b.position)
            .map((p) => (
              <tr key={p.segment_id}>
                <td className="truncate">{segmentLabel(segments, p.segment_id, p.position)}</td>
                <td>
                  <span className={`badge badge-${p.action === "reuse" ? "ok" : "neutral"}`}>{p.action}</span>
                </td>
                <td className="num">{formatCost(p.estimated_cost)}</td>
              </tr>
            ))}
        </tbody>
      </table>
      <div className="row gap">
        <button type="button" className="primary" onClick={onStart} disabled={starting}>
          {starting ? "Starting…" : "Start render"}
        </button>
        <button type="button" onClick={onDismiss} disabled={starting}>
          Not now
        </button>
      </div>
    </section>
  );
}

function JobView({
  job,
  segments,
  notice,
  cancelling,
  onCancel,
}: {
  job: RenderJob;
  segments: Segment[];
  notice: string | null;
  cancelling: boolean;
  onCancel: () => void;
}) {
  const terminal = isTerminal(job.status);
  // Live events do not carry the server's estimate: the same one is made from the live job.
  const eta = formatEta(estimateRemaining(job) ?? job.eta_seconds);
  const tone = job.status === "failed" ? "bad" : job.status === "completed" ? "ok" : undefined;
  // A variations job makes new takes of one segment, a row per seed: not a render of the timeline.
  const rows = [...job.segments].sort((a, b) => a.position - b.position);
  const variationsOf = job.kind === "variations" && rows[0] ? jobSegmentLabel(rows[0], segments) : null;
  return (
    <section className="job" aria-label="Render progress" data-job-id={job.id} data-status={job.status}>
      <div className="row between">
        <div className="row gap">
          <StatusBadge status={job.status} />
          <span className="muted small">started {formatDate(job.started_at ?? job.created_at)}</span>
        </div>
        {!terminal && (
          <button type="button" className="danger small" onClick={onCancel} disabled={cancelling}>
            {cancelling ? "Cancelling…" : "Cancel"}
          </button>
        )}
      </div>
      <ProgressBar value={job.progress} label="Overall progress" {...(tone ? { tone } : {})} />
      <div className="muted small" data-testid="job-progress" data-progress={job.progress}>
        {Math.round(job.progress * 100)}%{!terminal && eta ? ` · ${eta}` : ""} · est. {formatCost(job.estimated_cost)}
        {terminal ? ` · actual ${formatCost(job.actual_cost)}` : ""}
      </div>
      {notice && <div className="banner banner-info">{notice}</div>}
      {job.error && (
        <div className="banner banner-error" role="alert">
          Render {job.status === "cancelled" ? "cancelled" : "failed"}: {job.error}
        </div>
      )}

      {variationsOf && (
        <p className="truncate" data-testid="job-variations-of">
          {rows.length === 1 ? "A new take" : `${rows.length} new takes`} of <strong>{variationsOf}</strong>
        </p>
      )}
      <ul className="job-segments">
        {rows.map((seg, i) => (
          <li key={`${seg.segment_id}:${seg.seed ?? ""}`} className="job-segment" data-status={seg.status}>
            <div className="row between">
              <span className="truncate" data-testid="job-segment-prompt" title={seg.prompt ?? undefined}>
                {variationsOf ? `Take ${i + 1} · seed ${seg.seed ?? "?"}` : jobSegmentLabel(seg, segments)}
              </span>
              <StatusBadge status={seg.status} reused={seg.reused} />
            </div>
            {!seg.reused && seg.status !== "pending" && (
              <ProgressBar
                value={seg.status === "completed" ? 1 : seg.progress}
                label={`Segment ${seg.position + 1} progress`}
                {...(seg.status === "failed" ? { tone: "bad" } : seg.status === "completed" ? { tone: "ok" } : {})}
              />
            )}
            {seg.message && !seg.error && <div className="muted small">{seg.message}</div>}
            {seg.error && <div className="field-error">{seg.error}</div>}
            {seg.model && (
              <div className="snapshot">
                {seg.model} · {seg.duration ?? "?"} s · seed {seg.seed ?? "?"}
                {seg.params && Object.keys(seg.params).length > 0 ? ` · ${JSON.stringify(seg.params)}` : ""}
                {seg.clip_url && (
                  <details>
                    <summary>Play this clip</summary>
                    {/* biome-ignore lint/a11y/useMediaCaption: a generated clip has no dialogue to caption */}
                    <video
                      controls
                      preload="none"
                      src={seg.clip_url}
                      poster={seg.poster_url ?? undefined}
                      data-testid="job-segment-clip"
                    />
                  </details>
                )}
              </div>
            )}
          </li>
        ))}
      </ul>

      {job.status === "completed" && job.video_url && (
        <div className="result">
          {/* biome-ignore lint/a11y/useMediaCaption: the captions track exists only when a segment has a caption */}
          <video
            key={job.id}
            controls
            src={job.video_url}
            poster={job.poster_url ?? undefined}
            data-testid="final-video"
            preload="metadata"
          >
            {job.captions_url && <track kind="captions" src={job.captions_url} srcLang="en" label="Captions" default />}
          </video>
          <div className="row between">
            <span className="muted small">{job.duration !== null ? formatSeconds(job.duration) : ""}</span>
            <span className="row gap">
              {job.captions_url && (
                <a href={job.captions_url} download className="button" data-testid="captions-link">
                  Captions (VTT)
                </a>
              )}
              <a href={job.video_url} download className="button" data-testid="download-link">
                Download MP4
              </a>
            </span>
          </div>
        </div>
      )}
    </section>
  );
}
