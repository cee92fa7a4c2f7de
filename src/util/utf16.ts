/** UTF-16 facts for cutting text: a cut must not end between the two halves of a surrogate pair. */

/** Whether `code` is the first half of a surrogate pair (a character past U+FFFF). */
export const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;
