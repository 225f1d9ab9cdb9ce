import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type ChangeEvent, useId, useState } from "react";
import { ApiError, errorMessage } from "../../api/client";
import { api } from "../../api/endpoints";
import type { Asset, AssetKind } from "../../api/types";
import { FieldError } from "../../components/FieldError";
import { rememberAsset } from "./useAsset";

/** The API's upload limits (MAX_UPLOAD_BYTES in api/assets.py), checked before sending. */
export const MAX_UPLOAD_BYTES: Record<AssetKind, number> = { image: 16 << 20, audio: 50 << 20 };

export const ACCEPT: Record<AssetKind, string> = {
  image: "image/png,image/jpeg,image/webp",
  audio: "audio/*",
};

/** A readable message for a failed upload: the 422's `file` (or `kind`) message without its prefix. */
export function uploadErrorMessage(err: unknown): string {
  if (err instanceof ApiError) {
    const field = err.fieldErrors.file ?? err.fieldErrors.kind;
    if (field) return field.replace(/^(file|kind): /, "");
    if (err.status === 413) return "The file is too large.";
  }
  return errorMessage(err);
}

export interface AssetUploadProps {
  kind: AssetKind;
  label: string;
  onUploaded: (asset: Asset) => void;
  disabled?: boolean;
}

/** A file picker that uploads the chosen file as an asset (POST /api/assets) and hands back its facts. */
export function AssetUpload({ kind, label, onUploaded, disabled = false }: AssetUploadProps) {
  const id = useId();
  const client = useQueryClient();
  const upload = useMutation({
    mutationFn: (file: File) => api.uploadAsset(kind, file),
    onSuccess: (asset) => {
      rememberAsset(client, asset);
      onUploaded(asset);
    },
  });
  // A file refused before sending; the server's refusal is the upload's error.
  const [refused, setRefused] = useState<string | null>(null);
  const error = refused ?? (upload.error ? uploadErrorMessage(upload.error) : null);

  const onChange = (e: ChangeEvent<HTMLInputElement>) => {
    const input = e.currentTarget;
    const file = input.files?.[0];
    // Reset, so choosing the same file again after a failure uploads it again.
    input.value = "";
    if (!file) return;
    if (file.size === 0) {
      setRefused("The file is empty.");
      return;
    }
    if (file.size > MAX_UPLOAD_BYTES[kind]) {
      setRefused(`Larger than the ${MAX_UPLOAD_BYTES[kind] >> 20} MB allowed for ${kind}.`);
      return;
    }
    setRefused(null);
    upload.mutate(file);
  };

  return (
    <div className="field asset-upload">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="file"
        accept={ACCEPT[kind]}
        disabled={disabled || upload.isPending}
        onChange={onChange}
        aria-invalid={error ? true : undefined}
        data-testid={`upload-${kind}`}
      />
      {upload.isPending && (
        <small className="muted" role="status">
          Uploading…
        </small>
      )}
      <FieldError message={error} />
    </div>
  );
}
