import { useEffect, useId, useMemo, useState } from "react";
import type { JsonSchema } from "../../api/types";
import { FieldError } from "../../components/FieldError";
import { fieldsFromSchema, type ParamField } from "./paramsSchema";

export interface ParamsFormProps {
  schema: JsonSchema | null | undefined;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  /** Messages keyed by param name. */
  errors?: Record<string, string>;
  disabled?: boolean;
}

/** A small form generated from a model's params JSON schema. Unset fields use the server default. */
export function ParamsForm({ schema, value, onChange, errors = {}, disabled = false }: ParamsFormProps) {
  const { fields, unsupported } = useMemo(() => fieldsFromSchema(schema), [schema]);

  const setField = (name: string, next: unknown) => {
    const copy = { ...value };
    if (next === undefined) delete copy[name];
    else copy[name] = next;
    onChange(copy);
  };

  if (fields.length === 0 && unsupported.length === 0) {
    return <p className="muted small">This model has no parameters.</p>;
  }
  return (
    <fieldset className="params-form" disabled={disabled}>
      <legend>Parameters</legend>
      {fields.map((field) => (
        <ParamInput
          key={field.name}
          field={field}
          value={value[field.name]}
          error={errors[field.name]}
          onChange={(next) => setField(field.name, next)}
        />
      ))}
      {unsupported.length > 0 && (
        <p className="muted small">Not editable here (server defaults apply): {unsupported.join(", ")}</p>
      )}
    </fieldset>
  );
}

interface ParamInputProps {
  field: ParamField;
  value: unknown;
  error: string | undefined;
  onChange: (value: unknown) => void;
}

function defaultText(field: ParamField): string {
  if (field.default === undefined || field.default === null) return "";
  return String(field.default);
}

function ParamInput({ field, value, error, onChange }: ParamInputProps) {
  const id = useId();
  const errorId = `${id}-error`;
  const describedBy = error ? errorId : undefined;
  const hint = field.description;

  if (field.kind === "boolean") {
    const checked = typeof value === "boolean" ? value : field.default === true;
    return (
      <div className="field field-inline">
        <input
          id={id}
          type="checkbox"
          name={field.name}
          checked={checked}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          onChange={(e) => onChange(e.target.checked)}
        />
        <label htmlFor={id} title={hint}>
          {field.label}
        </label>
        <FieldError id={errorId} message={error} />
      </div>
    );
  }

  if (field.kind === "enum") {
    const index = value === undefined ? -1 : field.options.indexOf(value);
    const defaultIndex = field.options.indexOf(field.default);
    return (
      <div className="field">
        <label htmlFor={id} title={hint}>
          {field.label}
        </label>
        <select
          id={id}
          name={field.name}
          value={index >= 0 ? String(index) : ""}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          onChange={(e) => {
            const raw = e.target.value;
            onChange(raw === "" ? undefined : field.options[Number(raw)]);
          }}
        >
          <option value="">{defaultIndex >= 0 ? `Default (${String(field.options[defaultIndex])})` : "Default"}</option>
          {field.options.map((option, i) => (
            <option key={String(option)} value={String(i)}>
              {String(option)}
            </option>
          ))}
        </select>
        {hint && <small className="muted">{hint}</small>}
        <FieldError id={errorId} message={error} />
      </div>
    );
  }

  if (field.kind === "number" || field.kind === "integer") {
    return (
      <NumberInput field={field} id={id} value={value} error={error} describedBy={describedBy} onChange={onChange} />
    );
  }

  return (
    <div className="field">
      <label htmlFor={id} title={hint}>
        {field.label}
      </label>
      <input
        id={id}
        type="text"
        name={field.name}
        value={typeof value === "string" ? value : ""}
        placeholder={defaultText(field)}
        maxLength={field.maxLength}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy}
        onChange={(e) => onChange(e.target.value === "" ? undefined : e.target.value)}
      />
      {hint && <small className="muted">{hint}</small>}
      <FieldError id={errorId} message={error} />
    </div>
  );
}

interface NumberInputProps {
  field: ParamField;
  id: string;
  value: unknown;
  error: string | undefined;
  describedBy: string | undefined;
  onChange: (value: unknown) => void;
}

/** Keeps the typed text locally so partial input ("1.", "-") is not fought by re-renders. */
function NumberInput({ field, id, value, error, describedBy, onChange }: NumberInputProps) {
  const external = typeof value === "number" ? String(value) : "";
  const [text, setText] = useState(external);
  useEffect(() => {
    setText((current) => (Number(current) === Number(external) && current !== "" ? current : external));
  }, [external]);
  const min = field.minimum ?? field.exclusiveMinimum;
  const max = field.maximum ?? field.exclusiveMaximum;
  return (
    <div className="field">
      <label htmlFor={id} title={field.description}>
        {field.label}
        {min !== undefined && max !== undefined && (
          <span className="muted small">
            {" "}
            ({min}–{max})
          </span>
        )}
      </label>
      <input
        id={id}
        type="number"
        name={field.name}
        inputMode={field.kind === "integer" ? "numeric" : "decimal"}
        value={text}
        min={min}
        max={max}
        step={field.step ?? "any"}
        placeholder={defaultText(field)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy}
        onChange={(e) => {
          const raw = e.target.value;
          setText(raw);
          if (raw.trim() === "") onChange(undefined);
          else {
            const parsed = Number(raw);
            onChange(Number.isNaN(parsed) ? raw : parsed);
          }
        }}
      />
      {field.description && <small className="muted">{field.description}</small>}
      <FieldError id={errorId(id)} message={error} />
    </div>
  );
}

function errorId(id: string): string {
  return `${id}-error`;
}
