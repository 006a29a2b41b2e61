/**
 * Validation with any Standard Schema validator (zod, valibot, arktype, ...:
 * https://standardschema.dev). Only the interface is used, so no validator
 * library is a dependency.
 *
 * @module
 */
import { OptionError, ValidationError, describe, type ValidationIssue } from '../errors.js'

/** The part of the Standard Schema v1 interface threadstate uses. */
export interface StandardSchemaV1<T = unknown> {
  /** The Standard Schema interface. */
  readonly '~standard': StandardSchemaProps<T>
}

/** The `~standard` property of a Standard Schema validator. */
export interface StandardSchemaProps<T> {
  /** Interface version (1). */
  readonly version: 1
  /** The validator library. */
  readonly vendor: string
  /** Validates; threadstate needs the synchronous form. */
  readonly validate: (value: unknown) => StandardResult<T> | Promise<unknown>
}

/** A validation outcome: the (possibly transformed) value, or issues. */
export type StandardResult<T> = StandardSuccess<T> | StandardFailure

/** The value passed validation. */
export interface StandardSuccess<T> {
  /** The validated (possibly transformed) value. */
  readonly value: T
  /** Absent on success. */
  readonly issues?: undefined
}

/** The value failed validation. */
export interface StandardFailure {
  /** What is wrong. */
  readonly issues: readonly ValidationIssue[]
}

/** Checks that `schema` looks like a Standard Schema validator. */
export function checkValidator(schema: unknown, name = 'validate'): StandardSchemaV1 | undefined {
  if (schema === undefined) return undefined
  const std = (schema as { '~standard'?: { validate?: unknown } } | null)?.['~standard']
  if (typeof std?.validate !== 'function') {
    throw new OptionError(`Expected \`${name}\` to be a Standard Schema validator (zod, valibot, arktype, ...), got ${describe(schema)}`)
  }
  return schema as StandardSchemaV1
}

function pathOf(path: readonly unknown[] | undefined): string {
  if (!path || path.length === 0) return ''
  return path.map((p) => (typeof p === 'object' && p !== null && 'key' in p ? String((p as { key: unknown }).key) : String(p))).join('.')
}

/**
 * Runs `schema` on `value`; returns the validated value (validators may
 * transform it).
 * @throws ValidationError listing the issues
 */
export function validateWith<T>(schema: StandardSchemaV1, value: T, what: string): T {
  const result = schema['~standard'].validate(value)
  if (result instanceof Promise) {
    throw new OptionError(`Expected a synchronous \`validate\` schema for ${what}, got one that returned a Promise`)
  }
  const r = result as { value?: T; issues?: readonly { message: string; path?: readonly unknown[] }[] }
  if (r.issues) {
    const first = r.issues[0]
    const where = pathOf(first?.path)
    throw new ValidationError(
      `Expected a value the ${what}'s schema accepts, got ${r.issues.length} issue(s)${first ? `: ${where ? `${where}: ` : ''}${first.message}` : ''}`,
      r.issues,
    )
  }
  return r.value as T
}
