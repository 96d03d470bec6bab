"""mgcv's exact model set-up for the paper's GAMM, at the cost of the unique ``Sample`` values.

``bam(discrete=TRUE)`` builds its smooth bases and constraints on a *discretised* model frame
(``mgcv:::discrete.mf``: unique covariate values, padded to the frame's length with seeded
random draws). The sum-to-zero constraint of ``s(Sample)`` and of each difference smooth, the
natural parameterisation of the ``fs`` base and the penalty scaling all depend on that padded
frame, so the fast engine asks mgcv for them instead of re-deriving them:

1. ``bam(..., fit=FALSE)`` is started on the real data with ``gam.setup`` traced: the tracer
   captures the arguments bam passes (formula, parametric terms, the discretised frame) and
   aborts bam before the heavy part (dense 10,670-column fs design and penalties).
2. ``gam.setup`` is re-run on that frame with the random factor collapsed to two levels: every
   smooth comes out identical except that the fs term has 2 blocks instead of one per token.
3. The bases are evaluated with ``PredictMat`` at the unique (discretised) Sample values.

Returned by :func:`mgcv_setup` (all numpy, ``U`` unique Sample values, ``q`` = k basis size):

- ``xu`` [U]: the discretised Sample values; ``row_index`` [n]: each row's index into ``xu``.
- ``para_names`` [P]: '(Intercept)', 'Word<w>' ...; ``word_levels`` [W].
- ``smooth_labels`` / ``smooth_bases`` ([U, m_t]) / ``smooth_S`` ([m_t, m_t]) /
  ``smooth_level`` (None for s(Sample), the word for difference smooths) / ``smooth_rank``.
- ``fs_base`` [U, q], ``fs_S`` [2, q] (diagonals of the fs penalties, per token), fs label.
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import pandas as pd

from analysis.rbridge import pandas_to_r_factors, r_session

_R_SETUP = r"""
.fg_setup <- function(d, formula_str, flev) {
  f <- as.formula(formula_str)
  cap <- NULL
  suppressMessages(trace("gam.setup", where = asNamespace("mgcv"), print = FALSE,
    tracer = quote({
      cond <- structure(class = c("fg_capture", "error", "condition"),
                        list(message = "fg_capture", call = NULL,
                             args = list(formula = formula, pterms = pterms, data = data)))
      stop(cond)
    })))
  on.exit(suppressMessages(untrace("gam.setup", where = asNamespace("mgcv"))), add = TRUE)
  cap <- tryCatch(suppressWarnings(mgcv::bam(f, data = d, method = "fREML", discrete = TRUE,
                                             fit = FALSE)),
                  fg_capture = function(e) e$args)
  suppressMessages(untrace("gam.setup", where = asNamespace("mgcv")))
  on.exit()
  if (is.null(cap$data)) stop("could not capture bam's discretised frame")
  mf0 <- cap$data
  rf <- as.character(mf0[[flev]])
  lv <- levels(mf0[[flev]])
  mf0[[flev]] <- factor(ifelse(rf == lv[1], "a", "b"), levels = c("a", "b"))
  G <- suppressWarnings(mgcv:::gam.setup(formula = cap$formula, pterms = cap$pterms,
         data = mf0, knots = NULL, sp = NULL, min.sp = NULL, H = NULL, absorb.cons = TRUE,
         sparse.cons = 0, select = FALSE, idLinksBases = FALSE, scale.penalty = TRUE,
         paraPen = NULL, apply.by = FALSE, drop.intercept = FALSE, modCon = 2))
  list(G = G)
}
.fg_eval <- function(G, xu, byname, levels, flev) {
  out <- list()
  for (i in seq_along(G$smooth)) {
    sm <- G$smooth[[i]]
    nd <- data.frame(Sample = xu)
    lvl <- if (!is.null(sm$by.level)) sm$by.level else levels[1]
    nd[[byname]] <- factor(rep(lvl, length(xu)), levels = levels)
    nd[[byname]] <- as.ordered(nd[[byname]])
    nd[[flev]] <- factor(rep("a", length(xu)), levels = c("a", "b"))
    X <- PredictMat(sm, nd)
    if (inherits(sm, "fs.interaction")) {
      q <- ncol(X) / 2
      X <- X[, 1:q, drop = FALSE]
      S <- rbind(diag(sm$S[[1]])[1:q], diag(sm$S[[2]])[1:q])
      offd <- max(abs(sm$S[[1]] - diag(diag(sm$S[[1]])))) + max(abs(sm$S[[2]] - diag(diag(sm$S[[2]]))))
      out[[i]] <- list(label = sm$label, X = X, S = S, fs = TRUE, offdiag = offd,
                       level = "", rank = sm$rank, nsp = length(sm$S))
    } else {
      if (length(sm$S) != 1) stop("expected one penalty per smooth")
      out[[i]] <- list(label = sm$label, X = X, S = sm$S[[1]], fs = FALSE, offdiag = 0,
                       level = if (is.null(sm$by.level)) "" else as.character(sm$by.level),
                       rank = sm$rank, nsp = 1)
    }
  }
  list(smooths = out, para = colnames(G$X)[seq_len(G$nsdf)], nsdf = G$nsdf)
}
"""


def discretise_sample(x: np.ndarray, m: int = 1000):
    """mgcv ``compress.df`` for one numeric covariate: (xu [U] sorted, index [n] into xu).

    When x has more than m unique values mgcv replaces them by the nearest of m equally
    spaced values over range(x) (round((x - min)/dx)); otherwise the unique values are kept.
    """
    x = np.asarray(x, dtype=float)
    xu, idx = np.unique(x, return_inverse=True)
    if len(xu) > m:
        lo, hi = float(x.min()), float(x.max())
        grid = np.linspace(lo, hi, m)
        dx = grid[1] - grid[0]
        kx = np.round((x - lo) / dx).astype(np.int64)  # half to even, like R round()
        kx = np.clip(kx, 0, m - 1)
        used, idx = np.unique(kx, return_inverse=True)
        xu = grid[used]
    return xu, idx.astype(np.int64)


def mgcv_setup(data: pd.DataFrame, formula: str, factor: str = "Word",
               ordered: str = "WordOrdered", random: str = "UniqueWord",
               x: str = "Sample") -> Dict:
    """Bases and penalties of the paper's model exactly as mgcv's bam(discrete=TRUE) sets them up.

    data: prepared table (:func:`analysis.gamm.data.prepare_gamm_data`). formula: the R
    formula string.
    Returns the dict described in the module docstring.
    """
    if x != "Sample":
        raise ValueError("the fast engine's set-up currently supports the predictor 'Sample' only")
    session = r_session(("mgcv",), {"fast_setup": _R_SETUP})
    ro = session.ro
    levels = [str(c) for c in data[factor].cat.categories]
    rlevels = [str(c) for c in data[random].cat.categories]
    plain = pd.DataFrame({"Value": data["Value"].to_numpy(float), x: data[x].to_numpy(float),
                          factor: data[factor].array,
                          random: data[random].array})
    rd = pandas_to_r_factors(plain, factor, levels, ordered, random, rlevels)
    G = session.r(".fg_setup")(rd, formula, random).rx2("G")
    xu, row_index = discretise_sample(data[x].to_numpy(float))
    ev = session.r(".fg_eval")(G, ro.FloatVector(xu), ordered, ro.StrVector(levels), random)
    smooths = ev.rx2("smooths")
    out = {"xu": xu, "row_index": row_index, "word_levels": levels,
           "para_names": [str(s) for s in ev.rx2("para")], "smooth_labels": [],
           "smooth_bases": [], "smooth_S": [], "smooth_level": [], "smooth_rank": []}
    for sm in smooths:
        label = str(sm.rx2("label")[0])
        X = np.array(sm.rx2("X"), dtype=float).reshape(len(xu), -1)
        if bool(sm.rx2("fs")[0]):
            if float(sm.rx2("offdiag")[0]) != 0.0:
                raise RuntimeError("mgcv's fs penalties are not diagonal: unsupported set-up")
            out["fs_label"] = label
            out["fs_base"] = X
            out["fs_S"] = np.array(sm.rx2("S"), dtype=float).reshape(2, -1)
        else:
            S = np.array(sm.rx2("S"), dtype=float)
            out["smooth_labels"].append(label)
            out["smooth_bases"].append(X)
            out["smooth_S"].append(S.reshape(X.shape[1], X.shape[1]))
            lvl = str(sm.rx2("level")[0])
            out["smooth_level"].append(lvl if lvl else None)
            out["smooth_rank"].append(int(np.array(sm.rx2("rank"))[0]))
    if "fs_base" not in out:
        raise RuntimeError("mgcv set-up has no fs smooth")
    return out
