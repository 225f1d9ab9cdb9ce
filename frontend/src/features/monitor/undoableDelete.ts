/**
 * Delete a segment so that Ctrl/Cmd+Z brings it back: the undo creates it again at its place
 * with every field it had (same spec, so its clip is reused, not generated again).
 */
import { api } from "../../api/endpoints";
import type { Id, Segment, SegmentCreate } from "../../api/types";
import { appStore } from "../../store";
import { runTimelineMutation } from "../timeline/mutations";
import { cachedDetail } from "../timeline/queries";

function recreateBody(segment: Segment): SegmentCreate {
  return {
    prompt: segment.prompt,
    negative_prompt: segment.negative_prompt,
    model: segment.model,
    params: segment.params,
    duration: segment.duration,
    seed: segment.seed,
    caption: segment.caption,
    burn_caption: segment.burn_caption,
    transition: segment.transition as SegmentCreate["transition"],
    init_image_asset_id: segment.init_image_asset_id,
    continue_from_previous: segment.continue_from_previous,
    trim_start: segment.trim_start ?? null,
    trim_end: segment.trim_end ?? null,
    position: segment.position,
  };
}

export async function deleteUndoably(id: Id): Promise<boolean> {
  const store = appStore.getState();
  const projectId = store.projectId;
  const segment = cachedDetail(projectId)?.segments.find((s) => s.id === id);
  if (!segment || !projectId) return false;
  if (!(await store.deleteSegment(id))) return false;
  let currentId = id;
  const entry = {
    label: "Delete segment",
    segmentIds: [] as Id[],
    undo: async () => {
      try {
        const created = await runTimelineMutation(projectId, "Could not bring the deleted segment back", () =>
          api.createSegment(projectId, recreateBody(segment)),
        );
        currentId = created.id;
        await appStore.getState().loadProject(projectId);
        appStore.getState().selectSegment(created.id);
        return true;
      } catch {
        return false; // the mutation holds the reason and the editor shows it
      }
    },
    redo: () => appStore.getState().deleteSegment(currentId),
  };
  const { undoStack } = appStore.getState();
  appStore.setState({ undoStack: [...undoStack, entry], redoStack: [] });
  return true;
}
