/**
 * Money is integer micro-USD everywhere (1 USD = 1_000_000). Rounding is always up, so a fraction of a
 * micro is never given away.
 */
export const MICROS_PER_USD = 1_000_000;

/** Wholesale plus markup in basis points (2000 = +20%). */
export const withMarkup = (wholesale: number, markupBps: number) => Math.ceil((wholesale * (10_000 + markupBps)) / 10_000);

export const DEFAULT_MARKUP_BPS = 2_000;
