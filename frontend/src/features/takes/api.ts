/** The takes and variations routes (docs/editor.md), through the generated client. */
import type { components } from "../../api/generated/schema";
import { typed, unwrap } from "../../api/typed";
import type { Id, RenderJob, Segment } from "../../api/types";

export type Take = components["schemas"]["TakePublic"];

/** Every segment's takes are cached under this prefix; a finished job may have made new ones. */
export const TAKES_KEY = ["takes"] as const;

export const takesApi = {
  list: (segmentId: Id) =>
    unwrap(typed.GET("/api/segments/{segment_id}/takes", { params: { path: { segment_id: segmentId } } })) as Promise<
      Take[]
    >,
  use: (segmentId: Id, takeId: Id) =>
    unwrap(
      typed.POST("/api/segments/{segment_id}/takes/{take_id}/use", {
        params: { path: { segment_id: segmentId, take_id: takeId } },
      }),
    ) as Promise<Segment>,
  variations: (segmentId: Id, count: number) =>
    unwrap(
      typed.POST("/api/segments/{segment_id}/variations", {
        params: { path: { segment_id: segmentId } },
        body: { count },
      }),
    ) as Promise<RenderJob>,
};
