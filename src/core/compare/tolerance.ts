/** Relative tolerance of the norm comparison: a module changed when ‖ΔW_A − ΔW_B‖ > tol·max‖ΔW‖. */
// Its own file so the CLI's --help text can name it without loading the compare engine.
export const DEFAULT_TOLERANCE = 1e-7;
