export function FieldError({ id, message }: { id?: string; message: string | undefined | null }) {
  if (!message) return null;
  return (
    <div id={id} className="field-error" role="alert">
      {message}
    </div>
  );
}
