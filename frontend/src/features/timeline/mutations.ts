/**
 * The timeline's server calls (add, duplicate, delete, reorder, bring a deleted segment back) as
 * TanStack Query mutations under ["timeline", projectId]. Their optimistic edits and rollbacks stay
 * in the slice (against the ["project", id] cache); the mutation holds whether a call failed and
 * why, which the editor's banner shows, so the store keeps no error flag of its own.
 */
import { type Mutation, useMutationState } from "@tanstack/react-query";
import { errorMessage } from "../../api/client";
import { queryClient } from "../../api/queryClient";
import type { Id } from "../../api/types";

export function timelineKey(projectId: Id) {
  return ["timeline", projectId] as const;
}

/** The banner's text for a failed call: what failed and the server's reason. */
function failureOf(mutation: Mutation): string | null {
  const { error } = mutation.state;
  if (mutation.state.status !== "error") return null;
  const failure = mutation.meta?.failure;
  return typeof failure === "string" ? `${failure}: ${errorMessage(error)}` : errorMessage(error);
}

/** Forget the settled calls (their errors with them); calls still on their way keep running. */
export function clearTimelineErrors(projectId: Id | null): void {
  if (projectId === null) return;
  const cache = queryClient.getMutationCache();
  for (const m of cache.findAll({ mutationKey: timelineKey(projectId) })) {
    if (m.state.status !== "pending") cache.remove(m);
  }
}

/**
 * Run one timeline call as a mutation; rejects as `call` does. Starting one clears the errors
 * shown so far, as a new action makes the last failure old news. `failure` names what failed
 * ("Could not add a segment"); null when the error says it all.
 */
export function runTimelineMutation<T>(projectId: Id, failure: string | null, call: () => Promise<T>): Promise<T> {
  clearTimelineErrors(projectId);
  // Sent now, not after the mutation's own start-up ticks: an optimistic edit and its call go together.
  const sent = call();
  return queryClient
    .getMutationCache()
    .build(queryClient, {
      mutationKey: timelineKey(projectId),
      mutationFn: () => sent,
      meta: failure === null ? {} : { failure },
      // Kept until the next call or a dismissal clears it, not dropped from under the banner.
      gcTime: Number.POSITIVE_INFINITY,
    })
    .execute(undefined);
}

/** The last failed call's message, outside React (tests, the slice). */
export function timelineError(projectId: Id | null): string | null {
  if (projectId === null) return null;
  const failed = queryClient
    .getMutationCache()
    .findAll({ mutationKey: timelineKey(projectId), status: "error" })
    .sort((a, b) => a.state.submittedAt - b.state.submittedAt);
  const last = failed[failed.length - 1];
  return last ? failureOf(last) : null;
}

/** The last failed call's message for the editor's banner (null when none failed). */
export function useTimelineError(projectId: Id): string | null {
  const failures = useMutationState(
    {
      filters: { mutationKey: timelineKey(projectId), status: "error" },
      select: (m) => ({ at: m.state.submittedAt, message: failureOf(m) }),
    },
    queryClient, // where runTimelineMutation puts them, whichever client a test renders with
  );
  const last = failures.reduce<{ at: number; message: string | null } | null>(
    (latest, f) => (latest === null || f.at >= latest.at ? f : latest),
    null,
  );
  return last?.message ?? null;
}
