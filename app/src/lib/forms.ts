import type { SubmitFunction } from "@sveltejs/kit";

/**
 * `use:enhance={keepValues}` for forms that edit settings in place: the fields keep what was typed (the
 * server's fresh answer then fills them) instead of being reset to what the page first rendered.
 */
export const keepValues: SubmitFunction =
  () =>
  async ({ update }) =>
    update({ reset: false });
