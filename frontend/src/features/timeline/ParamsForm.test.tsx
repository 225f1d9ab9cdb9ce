import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import type { JsonSchema } from "../../api/types";
import { ParamsForm } from "./ParamsForm";
import { fieldsFromSchema, validateField, validateParams } from "./paramsSchema";

/** Shaped like Pydantic v2's model_json_schema() for an adapter's Params model. */
const schema: JsonSchema = {
  title: "ProceduralParams",
  type: "object",
  $defs: {
    Pattern: { enum: ["plasma", "bars", "rings"], title: "Pattern", type: "string" },
  },
  properties: {
    speed: { type: "number", minimum: 0.1, maximum: 4, default: 1, title: "Speed", description: "Animation speed" },
    layers: { type: "integer", minimum: 1, maximum: 8, title: "Layers" },
    pattern: { $ref: "#/$defs/Pattern", default: "plasma" },
    caption_text: {
      anyOf: [{ type: "string", maxLength: 10 }, { type: "null" }],
      default: null,
      title: "Caption Text",
    },
    grain: { type: "boolean", default: false, title: "Grain" },
    motion: { anyOf: [{ const: "slow" }, { const: "fast" }], default: "slow", title: "Motion" },
    fps_hint: { anyOf: [{ type: "integer", exclusiveMinimum: 0 }, { type: "null" }], title: "Fps Hint" },
    palette: { type: "array", items: { type: "string" } },
  },
  required: ["layers"],
};

function Harness({
  onChange,
  errors,
}: {
  onChange: (v: Record<string, unknown>) => void;
  errors?: Record<string, string>;
}) {
  const [value, setValue] = useState<Record<string, unknown>>({});
  return (
    <ParamsForm
      schema={schema}
      value={value}
      errors={errors ?? {}}
      onChange={(v) => {
        setValue(v);
        onChange(v);
      }}
    />
  );
}

describe("fieldsFromSchema", () => {
  const { fields, unsupported } = fieldsFromSchema(schema);
  const byName = Object.fromEntries(fields.map((f) => [f.name, f]));

  it("maps each supported property to a field kind", () => {
    expect(fields.map((f) => [f.name, f.kind])).toEqual([
      ["speed", "number"],
      ["layers", "integer"],
      ["pattern", "enum"],
      ["caption_text", "string"],
      ["grain", "boolean"],
      ["motion", "enum"],
      ["fps_hint", "integer"],
    ]);
    expect(unsupported).toEqual(["palette"]);
  });

  it("keeps bounds, defaults, options, nullability and requiredness", () => {
    expect(byName.speed).toMatchObject({ minimum: 0.1, maximum: 4, default: 1, description: "Animation speed" });
    expect(byName.layers).toMatchObject({ required: true, step: 1 });
    expect(byName.pattern).toMatchObject({ options: ["plasma", "bars", "rings"], default: "plasma", label: "Pattern" });
    expect(byName.caption_text).toMatchObject({ nullable: true, maxLength: 10 });
    expect(byName.motion?.options).toEqual(["slow", "fast"]);
    expect(byName.fps_hint).toMatchObject({ nullable: true, exclusiveMinimum: 0, label: "Fps Hint" });
  });

  it("handles an empty or missing schema", () => {
    expect(fieldsFromSchema(undefined)).toEqual({ fields: [], unsupported: [] });
    expect(fieldsFromSchema({ type: "object" })).toEqual({ fields: [], unsupported: [] });
  });

  it("humanizes names without a title", () => {
    const { fields: f } = fieldsFromSchema({ properties: { motion_blur: { type: "boolean" } } });
    expect(f[0]?.label).toBe("Motion blur");
  });
});

describe("validateField", () => {
  const { fields } = fieldsFromSchema(schema);
  const get = (name: string) => {
    const f = fields.find((x) => x.name === name);
    if (!f) throw new Error(name);
    return f;
  };

  it("checks numeric bounds and integers", () => {
    expect(validateField(get("speed"), 5)).toBe("Must be at most 4");
    expect(validateField(get("speed"), 0)).toBe("Must be at least 0.1");
    expect(validateField(get("speed"), 2.5)).toBeNull();
    expect(validateField(get("layers"), 2.5)).toBe("Must be a whole number");
    expect(validateField(get("fps_hint"), 0)).toBe("Must be greater than 0");
    expect(validateField(get("speed"), "abc")).toBe("Must be a number");
  });

  it("checks strings, enums and requiredness", () => {
    expect(validateField(get("caption_text"), "far too long text")).toBe("Must be at most 10 characters");
    expect(validateField(get("caption_text"), null)).toBeNull();
    expect(validateField(get("pattern"), "zigzag")).toBe("Pick one of the options");
    expect(validateField(get("layers"), undefined)).toBe("Required");
    expect(validateParams(fieldsFromSchema(schema).fields, { layers: 2, speed: 9 })).toEqual({
      speed: "Must be at most 4",
    });
  });
});

describe("<ParamsForm>", () => {
  it("renders one control per field with labels", () => {
    render(<Harness onChange={() => undefined} />);
    expect(screen.getByLabelText(/Speed/)).toHaveAttribute("type", "number");
    expect(screen.getByLabelText(/Layers/)).toHaveAttribute("step", "1");
    expect(screen.getByLabelText("Pattern").tagName).toBe("SELECT");
    expect(screen.getByLabelText("Grain")).toHaveAttribute("type", "checkbox");
    expect(screen.getByLabelText("Caption Text")).toHaveAttribute("maxlength", "10");
    expect(screen.getByText(/Not editable here.*palette/)).toBeInTheDocument();
    expect(screen.getByRole("option", { name: "Default (plasma)" })).toBeInTheDocument();
  });

  it("emits typed values: numbers, enum options, booleans; clearing unsets", () => {
    const onChange = vi.fn();
    render(<Harness onChange={onChange} />);
    fireEvent.change(screen.getByLabelText(/Speed/), { target: { value: "2.5" } });
    expect(onChange).toHaveBeenLastCalledWith({ speed: 2.5 });
    fireEvent.change(screen.getByLabelText("Pattern"), { target: { value: "1" } });
    expect(onChange).toHaveBeenLastCalledWith({ speed: 2.5, pattern: "bars" });
    fireEvent.click(screen.getByLabelText("Grain"));
    expect(onChange).toHaveBeenLastCalledWith({ speed: 2.5, pattern: "bars", grain: true });
    fireEvent.change(screen.getByLabelText(/Speed/), { target: { value: "" } });
    expect(onChange).toHaveBeenLastCalledWith({ pattern: "bars", grain: true });
    fireEvent.change(screen.getByLabelText("Pattern"), { target: { value: "" } });
    expect(onChange).toHaveBeenLastCalledWith({ grain: true });
  });

  it("shows an error next to the field it names", () => {
    render(<Harness onChange={() => undefined} errors={{ layers: "Must be at most 8" }} />);
    const input = screen.getByLabelText(/Layers/);
    expect(input).toHaveAttribute("aria-invalid", "true");
    const message = screen.getByText("Must be at most 8");
    expect(input.getAttribute("aria-describedby")).toBe(message.id);
  });

  it("says so when a model has no parameters", () => {
    render(<ParamsForm schema={{ type: "object", properties: {} }} value={{}} onChange={() => undefined} />);
    expect(screen.getByText("This model has no parameters.")).toBeInTheDocument();
  });
});
