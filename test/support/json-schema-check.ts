export type JsonSchema = Record<string, unknown>;

/**
 * The handful of JSON Schema keywords the generated documents use, enough to check that the
 * committed files accept what the function emits and refuse what it refuses (no validator package
 * is a dependency). An unknown keyword fails the check rather than being ignored.
 */
export function schemaProblems(
  schema: JsonSchema,
  value: unknown,
  root: JsonSchema = schema,
  at = '$',
): string[] {
  const known = new Set([
    '$schema',
    '$id',
    'title',
    'description',
    '$defs',
    'format',
    // OpenAPI 3.0 (the registry documents): `nullable` is read by `type` below; the EventBridge
    // extensions only annotate.
    'nullable',
    'x-amazon-events-source',
    'x-amazon-events-detail-type',
    ...Object.keys(checks),
  ]);
  const unknown = Object.keys(schema).filter((keyword) => !known.has(keyword));
  if (unknown.length > 0) return [`${at}: unsupported keywords ${unknown.join(', ')}`];
  return Object.entries(checks).flatMap(([keyword, check]) =>
    keyword in schema ? check(schema[keyword], value, { schema, root, at }) : [],
  );
}

interface Where {
  schema: JsonSchema;
  root: JsonSchema;
  at: string;
}
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const typeOf = (value: unknown) =>
  value === null
    ? 'null'
    : Array.isArray(value)
      ? 'array'
      : Number.isInteger(value)
        ? 'integer'
        : typeof value;
const checks: Record<string, (keyword: unknown, value: unknown, where: Where) => string[]> = {
  $ref: (ref, value, { root, at }) =>
    schemaProblems(
      (root.$defs as Record<string, JsonSchema>)[
        String(ref).replace(/^#\/(\$defs|components\/schemas)\//, '')
      ] ?? {},
      value,
      root,
      at,
    ),
  anyOf: (options, value, { root, at }) =>
    (options as JsonSchema[]).some((option) => schemaProblems(option, value, root, at).length === 0)
      ? []
      : [`${at}: matches no anyOf option`],
  oneOf: (options, value, { root, at }) => {
    const matching = (options as JsonSchema[]).filter(
      (option) => schemaProblems(option, value, root, at).length === 0,
    ).length;
    return matching === 1 ? [] : [`${at}: matches ${matching} oneOf options, not exactly one`];
  },
  type: (type, value, { schema, at }) => {
    const allowed = [type, ...(schema.nullable === true ? ['null'] : [])].flat();
    const actual = typeOf(value);
    return allowed.includes(actual) || (actual === 'integer' && allowed.includes('number'))
      ? []
      : [`${at}: not ${type}`];
  },
  enum: (values, value, { at }) => ((values as unknown[]).includes(value) ? [] : [`${at}: not in enum`]),
  const: (constant, value, { at }) => (value === constant ? [] : [`${at}: not ${constant}`]),
  pattern: (pattern, value, { at }) =>
    typeof value !== 'string' || new RegExp(String(pattern), 'u').test(value)
      ? []
      : [`${at}: does not match`],
  minLength: (min, value, { at }) =>
    typeof value !== 'string' || value.length >= Number(min) ? [] : [`${at}: short`],
  maxLength: (max, value, { at }) =>
    typeof value !== 'string' || value.length <= Number(max) ? [] : [`${at}: long`],
  minimum: (min, value, { at }) =>
    typeof value !== 'number' || value >= Number(min) ? [] : [`${at}: small`],
  maximum: (max, value, { at }) => (typeof value !== 'number' || value <= Number(max) ? [] : [`${at}: big`]),
  // Draft 2020-12's numeric form (zod writes it for `.positive()`); OpenAPI 3.0's boolean form is not used.
  exclusiveMinimum: (min, value, { at }) =>
    typeof value !== 'number' || value > Number(min) ? [] : [`${at}: not above ${min}`],
  minItems: (min, value, { at }) =>
    !Array.isArray(value) || value.length >= Number(min) ? [] : [`${at}: few`],
  maxItems: (max, value, { at }) =>
    !Array.isArray(value) || value.length <= Number(max) ? [] : [`${at}: many`],
  items: (items, value, { root, at }) =>
    Array.isArray(value)
      ? value.flatMap((item, i) => schemaProblems(items as JsonSchema, item, root, `${at}[${i}]`))
      : [],
  required: (names, value, { at }) =>
    isObject(value)
      ? (names as string[]).filter((name) => !(name in value)).map((name) => `${at}.${name}: missing`)
      : [],
  properties: (properties, value, { root, at }) =>
    isObject(value)
      ? Object.entries(properties as Record<string, JsonSchema>).flatMap(([name, property]) =>
          name in value ? schemaProblems(property, value[name], root, `${at}.${name}`) : [],
        )
      : [],
  additionalProperties: (allowed, value, { schema, at }) =>
    allowed === false && isObject(value)
      ? Object.keys(value)
          .filter((name) => !Object.hasOwn((schema.properties ?? {}) as object, name))
          .map((name) => `${at}.${name}: not allowed`)
      : [],
};
