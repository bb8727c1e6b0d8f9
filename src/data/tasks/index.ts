// Every built-in task family, in a fixed order (the order of the families table).
import { ARITHMETIC_FAMILIES } from './arithmetic.js';
import type { TaskFamily } from './common.js';
import { GEOGRAPHY_FAMILIES } from './geography.js';
import { LEXICAL_FAMILIES } from './lexical.js';
import { LIST_FAMILIES } from './lists.js';
import { STRING_FAMILIES } from './strings.js';
import { UNIT_FAMILIES } from './units.js';

export const ALL_FAMILIES: readonly TaskFamily[] = [
  ...LEXICAL_FAMILIES,
  ...GEOGRAPHY_FAMILIES,
  ...ARITHMETIC_FAMILIES,
  ...STRING_FAMILIES,
  ...LIST_FAMILIES,
  ...UNIT_FAMILIES,
];

/** Families held out of training by default, each resembling a trained one in format:
 *  lowercase ~ uppercase, last_letter ~ first_letter, list_first ~ list_last. */
export const DEFAULT_ZERO_SHOT = ['lowercase', 'last_letter', 'list_first'] as const;

export type { Metric, Prompt, TaskFamily, TaskItem, Template } from './common.js';
