/**
 * Turn a model's params JSON schema (as Pydantic writes it) into a flat list of form fields, and
 * check values against them. Supported: number, integer, string, enum (inline, `$ref`'d enum
 * definitions, `const` alternatives) and boolean, each optionally nullable (`anyOf [.., null]`).
 * Anything else (objects, arrays) is reported as unsupported and left to the server.
 */
import type { JsonSchema } from "../../api/types";

export type FieldKind = "number" | "integer" | "string" | "enum" | "boolean";

export interface ParamField {
  name: string;
  label: string;
  description: string | undefined;
  kind: FieldKind;
  required: boolean;
  nullable: boolean;
  default: unknown;
  minimum: number | undefined;
  maximum: number | undefined;
  exclusiveMinimum: number | undefined;
  exclusiveMaximum: number | undefined;
  step: number | undefined;
  minLength: number | undefined;
  maxLength: number | undefined;
  pattern: string | undefined;
  /** enum choices, in schema order */
  options: unknown[];
}

export interface SchemaFields {
  fields: ParamField[];
  /** Property names the form cannot edit. */
  unsupported: string[];
}

function humanize(name: string): string {
  const words = name.replace(/[_-]+/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function resolve(schema: JsonSchema, root: JsonSchema, depth = 0): JsonSchema {
  if (depth > 8 || !schema.$ref) return schema;
  const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(schema.$ref);
  if (!match) return schema;
  const defs = (match[1] === "$defs" ? root.$defs : root.definitions) ?? {};
  const target = defs[decodeURIComponent(match[2] ?? "")];
  if (!target) return schema;
  const { $ref: _ref, ...rest } = schema;
  return { ...resolve(target, root, depth + 1), ...rest };
}

function typesOf(schema: JsonSchema): string[] {
  if (Array.isArray(schema.type)) return schema.type;
  return typeof schema.type === "string" ? [schema.type] : [];
}

interface Flattened {
  schema: JsonSchema;
  nullable: boolean;
}

/** Collapse `anyOf`/`oneOf`/`allOf` wrappers and `$ref`s into one schema plus nullability. */
function flatten(input: JsonSchema, root: JsonSchema): Flattened {
  let schema = resolve(input, root);
  let nullable = false;

  if (schema.allOf && schema.allOf.length === 1 && schema.allOf[0]) {
    const { allOf, ...rest } = schema;
    schema = { ...resolve(allOf[0] as JsonSchema, root), ...rest };
  }

  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives && alternatives.length > 0) {
    const { anyOf: _a, oneOf: _o, ...outer } = schema;
    const branches = alternatives.map((b) => resolve(b, root));
    const nonNull = branches.filter((b) => !(typesOf(b).length === 1 && typesOf(b)[0] === "null"));
    nullable = nonNull.length < branches.length;
    if (nonNull.length === 1 && nonNull[0]) {
      const inner = flatten(nonNull[0], root);
      return { schema: { ...inner.schema, ...outer }, nullable: nullable || inner.nullable };
    }
    // Literal unions: anyOf of consts/enums -> one enum.
    if (nonNull.length > 1 && nonNull.every((b) => "const" in b || Array.isArray(b.enum))) {
      const options = nonNull.flatMap((b) => ("const" in b ? [b.const] : (b.enum ?? [])));
      return { schema: { ...outer, enum: options }, nullable };
    }
    return { schema: { ...outer, type: "__unsupported__" }, nullable };
  }

  const types = typesOf(schema);
  if (types.includes("null") && types.length > 1) {
    nullable = true;
    schema = { ...schema, type: types.filter((t) => t !== "null") };
    if (Array.isArray(schema.type) && schema.type.length === 1) schema = { ...schema, type: schema.type[0] };
  }
  if (Array.isArray(schema.enum) && schema.enum.includes(null)) {
    nullable = true;
    schema = { ...schema, enum: schema.enum.filter((v) => v !== null) };
  }
  return { schema, nullable };
}

function kindOf(schema: JsonSchema): FieldKind | null {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return "enum";
  if ("const" in schema) return "enum";
  const types = typesOf(schema);
  if (types.length !== 1) return null;
  switch (types[0]) {
    case "number":
      return "number";
    case "integer":
      return "integer";
    case "string":
      return "string";
    case "boolean":
      return "boolean";
    default:
      return null;
  }
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

export function fieldsFromSchema(schema: JsonSchema | null | undefined): SchemaFields {
  const root = schema ? resolve(schema, schema) : {};
  const properties = root.properties ?? {};
  const required = new Set(root.required ?? []);
  const fields: ParamField[] = [];
  const unsupported: string[] = [];
  for (const [name, raw] of Object.entries(properties)) {
    const { schema: prop, nullable } = flatten(raw, schema ?? {});
    const kind = kindOf(prop);
    if (!kind) {
      unsupported.push(name);
      continue;
    }
    const options = kind === "enum" ? (Array.isArray(prop.enum) ? prop.enum : [prop.const]) : [];
    const isNumeric = kind === "number" || kind === "integer";
    fields.push({
      name,
      label: typeof prop.title === "string" && prop.title ? prop.title : humanize(name),
      description: typeof prop.description === "string" ? prop.description : undefined,
      kind,
      required: required.has(name),
      nullable,
      default: prop.default,
      minimum: isNumeric ? num(prop.minimum) : undefined,
      maximum: isNumeric ? num(prop.maximum) : undefined,
      exclusiveMinimum: isNumeric ? num(prop.exclusiveMinimum) : undefined,
      exclusiveMaximum: isNumeric ? num(prop.exclusiveMaximum) : undefined,
      step: isNumeric ? (num(prop.multipleOf) ?? (kind === "integer" ? 1 : undefined)) : undefined,
      minLength: kind === "string" ? num(prop.minLength) : undefined,
      maxLength: kind === "string" ? num(prop.maxLength) : undefined,
      pattern: kind === "string" && typeof prop.pattern === "string" ? prop.pattern : undefined,
      options,
    });
  }
  return { fields, unsupported };
}

/** Check one value; returns a message or null. `undefined` means "not set" (server default). */
export function validateField(field: ParamField, value: unknown): string | null {
  if (value === undefined || value === "") {
    return field.required && field.default === undefined ? "Required" : null;
  }
  if (value === null) return field.nullable || !field.required ? null : "Required";
  switch (field.kind) {
    case "number":
    case "integer": {
      if (typeof value !== "number" || !Number.isFinite(value)) return "Must be a number";
      if (field.kind === "integer" && !Number.isInteger(value)) return "Must be a whole number";
      if (field.minimum !== undefined && value < field.minimum) return `Must be at least ${field.minimum}`;
      if (field.maximum !== undefined && value > field.maximum) return `Must be at most ${field.maximum}`;
      if (field.exclusiveMinimum !== undefined && value <= field.exclusiveMinimum)
        return `Must be greater than ${field.exclusiveMinimum}`;
      if (field.exclusiveMaximum !== undefined && value >= field.exclusiveMaximum)
        return `Must be less than ${field.exclusiveMaximum}`;
      return null;
    }
    case "string": {
      if (typeof value !== "string") return "Must be text";
      if (field.minLength !== undefined && value.length < field.minLength)
        return `Must be at least ${field.minLength} characters`;
      if (field.maxLength !== undefined && value.length > field.maxLength)
        return `Must be at most ${field.maxLength} characters`;
      if (field.pattern !== undefined) {
        try {
          if (!new RegExp(field.pattern, "u").test(value)) return "Has the wrong format";
        } catch {
          // a pattern JS cannot compile is left to the server
        }
      }
      return null;
    }
    case "enum":
      return field.options.some((o) => o === value) ? null : "Pick one of the options";
    case "boolean":
      return typeof value === "boolean" ? null : "Must be yes or no";
  }
}

export function validateParams(fields: readonly ParamField[], values: Record<string, unknown>): Record<string, string> {
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const message = validateField(field, values[field.name]);
    if (message) errors[field.name] = message;
  }
  return errors;
}
