/**
 * Every clip generated for a segment, as a strip of posters: each plays in place, and "Use this
 * take" puts it back in the timeline (the next render reuses it at no cost). "Generate
 * variations" makes 1 to 4 new takes as a job that shows in progress and history.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { errorMessage } from "../../api/client";
import type { Segment } from "../../api/types";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatCost, formatDate, formatSeconds } from "../../components/format";
import { useAppShallow } from "../../store";
import { useShownJob } from "../dashboard/useShownJob";
import { TAKES_KEY, type Take, takesApi } from "./api";

export function TakesStrip({ segment }: { segment: Segment }) {
  const { projectId, watchJob, loadProject, loadJobs } = useAppShallow((s) => ({
    projectId: s.projectId,
    watchJob: s.watchJob,
    loadProject: s.loadProject,
    loadJobs: s.loadJobs,
  }));
  const activeJob = useShownJob();
  const [count, setCount] = useState(2);
  const [playing, setPlaying] = useState<string | null>(null);
  const queryClient = useQueryClient();
  // Fetched again when a watched job ends (dashboard slice), not keyed by the job on show: an
  // older job picked from the history must not bring back the list as it was then.
  const takes = useQuery({
    queryKey: [...TAKES_KEY, segment.id, segment.version],
    queryFn: () => takesApi.list(segment.id),
  });

  const use = useMutation({
    mutationFn: (take: Take) => takesApi.use(segment.id, take.id),
    onSuccess: async () => {
      if (projectId) await loadProject(projectId);
      await queryClient.invalidateQueries({ queryKey: [...TAKES_KEY, segment.id] });
    },
  });
  const vary = useMutation({
    mutationFn: () => takesApi.variations(segment.id, count),
    onSuccess: (job) => {
      watchJob(job);
      if (projectId) void loadJobs(projectId);
    },
  });
  const busy = activeJob !== null && !["completed", "failed", "cancelled"].includes(activeJob.status);
  const list = takes.data ?? [];

  return (
    <section className="takes" aria-label="Takes" data-testid="takes">
      <div className="row between">
        <h3>
          Takes <span className="muted small">({list.length})</span>
        </h3>
        <div className="row gap small">
          <select
            aria-label="How many variations"
            value={count}
            onChange={(e) => setCount(Number(e.target.value))}
            data-testid="variations-count"
          >
            {[1, 2, 3, 4].map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
          <button
            type="button"
            className="small"
            onClick={() => vary.mutate()}
            disabled={vary.isPending || busy}
            title={busy ? "Wait for the render in progress" : "New takes with new seeds; the segment is not changed"}
            data-testid="generate-variations"
          >
            Generate variations
          </button>
        </div>
      </div>
      <ErrorBanner message={vary.error ? errorMessage(vary.error) : use.error ? errorMessage(use.error) : null} />
      {takes.isError && <ErrorBanner message={errorMessage(takes.error)} />}
      {list.length === 0 && !takes.isLoading && (
        <p className="muted small">No takes yet: render the segment or generate variations.</p>
      )}
      <ol className="takes-strip">
        {list.map((take) => (
          <li
            key={take.id}
            className={take.current ? "take current" : "take"}
            data-testid="take"
            data-take-id={take.id}
          >
            {playing === take.id && take.clip_url ? (
              // biome-ignore lint/a11y/useMediaCaption: generated clips have no captions track
              <video
                src={take.clip_url}
                poster={take.poster_url ?? undefined}
                controls
                autoPlay
                playsInline
                className="take-media"
                data-testid="take-video"
                onEnded={() => setPlaying(null)}
              />
            ) : (
              <button
                type="button"
                className="take-media take-poster"
                onClick={() => setPlaying(take.id)}
                disabled={!take.clip_url}
                aria-label={`Play take with seed ${take.seed}`}
                style={{ backgroundImage: take.poster_url ? `url("${take.poster_url}")` : undefined }}
              >
                ▶
              </button>
            )}
            <div className="take-meta small">
              <span title={take.prompt}>
                seed {take.seed} · {formatSeconds(take.duration)} · {take.model}
              </span>
              <span className="muted">
                {formatDate(take.created_at)} · {formatCost(take.cost)}
              </span>
            </div>
            {take.current ? (
              <span className="badge badge-ok">In use</span>
            ) : (
              <button
                type="button"
                className="small"
                onClick={() => use.mutate(take)}
                disabled={use.isPending}
                data-testid="use-take"
              >
                Use this take
              </button>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
