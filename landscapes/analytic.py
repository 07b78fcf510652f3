"""The classic analytic test surfaces, each with its gradient in closed form.

Every formula returns ``(f, ∂f/∂x, ∂f/∂y)`` and uses only operators and ``xp.<fn>``
(see :mod:`landscapes.base`), so it runs on numpy, torch and numba alike. Each factory is
registered with its parameters, bounds (the default view), known minima with f*, and a
default start chosen to show the surface's difficulty.
"""

from __future__ import annotations

import math

import numpy as np

from .base import FormulaLandscape, Param, bind_namespace, rotation
from .registry import register

xp = None  # bound to numpy or torch per call (landscapes.base.bind_namespace)


# --- ill-conditioning -------------------------------------------------------------------


def quadratic_formula(x, y, p):
    kappa, c, s = p
    u = c * x + s * y  # coordinate along the eigenvector of eigenvalue 1
    v = c * y - s * x  # coordinate along the eigenvector of eigenvalue κ
    f = 0.5 * (u * u + kappa * v * v)
    fv = kappa * v
    return f, c * u - s * fv, s * u + c * fv


@register(
    "quadratic",
    (
        Param("condition", 10.0, 1.0, 1e4, "condition number κ = λ_max / λ_min", log=True),
        Param("angle", 0.0, -180.0, 180.0, "rotation of the eigen-axes in degrees"),
    ),
    "Ill-conditioned quadratic ½θᵀHθ, H with eigenvalues 1 and κ, eigen-axes rotated by the angle.",
)
def quadratic(condition: float, angle: float) -> FormulaLandscape:
    """f(θ) = ½ θᵀ H θ with H = R(φ) diag(1, κ) R(φ)ᵀ: a ravine κ times steeper across than along."""
    c, s = rotation(angle)
    return FormulaLandscape(
        name="quadratic",
        formula=quadratic_formula,
        p=(condition, c, s),
        params={"condition": condition, "angle": angle},
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        default_start=(-1.8, 0.8),
        description="ill-conditioned quadratic",
    )


# --- narrow curved valley ---------------------------------------------------------------


def rosenbrock_formula(x, y, p):
    a, b = p
    r = y - x * x
    f = (a - x) ** 2 + b * r * r
    return f, -2.0 * (a - x) - 4.0 * b * x * r, 2.0 * b * r


@register(
    "rosenbrock",
    (
        Param("a", 1.0, 0.5, 1.5, "the minimum sits at (a, a²)"),
        Param("b", 100.0, 1.0, 1000.0, "steepness of the valley walls", log=True),
    ),
    "Rosenbrock's banana: a narrow curved valley with a flat floor.",
)
def rosenbrock(a: float, b: float) -> FormulaLandscape:
    """f(x, y) = (a − x)² + b (y − x²)²: the valley floor y = x² is flat, its walls steep."""
    return FormulaLandscape(
        name="rosenbrock",
        formula=rosenbrock_formula,
        p=(a, b),
        params={"a": a, "b": b},
        bounds=((-2.0, 2.0), (-1.0, 3.0)),
        minima=((a, a * a),),
        minimum_value=0.0,
        default_start=(-1.5, 2.0),
        description="narrow curved valley",
    )


def matyas_formula(x, y, p):
    f = 0.26 * (x * x + y * y) - 0.48 * x * y
    return f, 0.52 * x - 0.48 * y, 0.52 * y - 0.48 * x


@register("matyas", (), "Matyas: a flat, tilted bowl with Hessian eigenvalues 1 and 0.04 (condition 25).")
def matyas() -> FormulaLandscape:
    """f(x, y) = 0.26 (x² + y²) − 0.48 xy: Hessian eigenvalues 1 (across x = y) and 0.04 (along it)."""
    return FormulaLandscape(
        name="matyas",
        formula=matyas_formula,
        p=(),
        params={},
        bounds=((-10.0, 10.0), (-10.0, 10.0)),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        default_start=(-8.0, -5.0),
        description="flat tilted bowl",
    )


def booth_formula(x, y, p):
    a = x + 2.0 * y - 7.0
    b = 2.0 * x + y - 5.0
    return a * a + b * b, 2.0 * a + 4.0 * b, 4.0 * a + 2.0 * b


@register("booth", (), "Booth: a quadratic bowl with Hessian eigenvalues 18 and 2, minimum at (1, 3).")
def booth() -> FormulaLandscape:
    """f(x, y) = (x + 2y − 7)² + (2x + y − 5)²: minimum 0 at (1, 3), condition number 9."""
    return FormulaLandscape(
        name="booth",
        formula=booth_formula,
        p=(),
        params={},
        bounds=((-10.0, 10.0), (-10.0, 10.0)),
        minima=((1.0, 3.0),),
        minimum_value=0.0,
        default_start=(-6.0, 9.0),
        description="tilted quadratic bowl",
    )


# --- flat regions and sharp valleys -----------------------------------------------------


def beale_formula(x, y, p):
    y2 = y * y
    y3 = y2 * y
    a = 1.5 - x + x * y
    b = 2.25 - x + x * y2
    c = 2.625 - x + x * y3
    f = a * a + b * b + c * c
    fx = 2.0 * (a * (y - 1.0) + b * (y2 - 1.0) + c * (y3 - 1.0))
    fy = 2.0 * x * (a + 2.0 * b * y + 3.0 * c * y2)
    return f, fx, fy


@register("beale", (), "Beale: flat plateaus and sharp ridges spanning five orders of magnitude.")
def beale() -> FormulaLandscape:
    """f(x, y) = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²: minimum 0 at (3, ½)."""
    return FormulaLandscape(
        name="beale",
        formula=beale_formula,
        p=(),
        params={},
        bounds=((-4.5, 4.5), (-4.5, 4.5)),
        minima=((3.0, 0.5),),
        minimum_value=0.0,
        default_start=(1.0, 1.5),
        description="plateaus and sharp ridges",
    )


# --- several minima ---------------------------------------------------------------------


def himmelblau_formula(x, y, p):
    a = x * x + y - 11.0
    b = x + y * y - 7.0
    return a * a + b * b, 4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b


@register("himmelblau", (), "Himmelblau: four global minima; the start decides which basin wins.")
def himmelblau() -> FormulaLandscape:
    """f(x, y) = (x² + y − 11)² + (x + y² − 7)²: four minima with f = 0, a local maximum at (−0.27, −0.92)."""
    return FormulaLandscape(
        name="himmelblau",
        formula=himmelblau_formula,
        p=(),
        params={},
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        # (3, 2) is exact; the others are roots of ∇f = 0 found by Newton's method in 40-digit arithmetic.
        minima=(
            (3.0, 2.0),
            (-2.805118086952745, 3.131312518250573),
            (-3.779310253377747, -3.2831859912861696),
            (3.5844283403304917, -1.8481265269644036),
        ),
        minimum_value=0.0,
        default_start=(-0.5, -1.0),
        description="four global minima",
    )


def three_hump_camel_formula(x, y, p):
    x2 = x * x
    x4 = x2 * x2
    f = 2.0 * x2 - 1.05 * x4 + x4 * x2 / 6.0 + x * y + y * y
    return f, 4.0 * x - 4.2 * x2 * x + x4 * x + y, x + 2.0 * y


@register("three_hump_camel", (), "Three-hump camel: a global minimum between two shallow local minima.")
def three_hump_camel() -> FormulaLandscape:
    """f(x, y) = 2x² − 1.05x⁴ + x⁶/6 + xy + y²: minimum 0 at the origin, local minima near ±(1.75, −0.87)."""
    return FormulaLandscape(
        name="three_hump_camel",
        formula=three_hump_camel_formula,
        p=(),
        params={},
        bounds=((-2.5, 2.5), (-2.5, 2.5)),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        default_start=(2.2, -1.5),
        description="global minimum between two local ones",
    )


def six_hump_camel_formula(x, y, p):
    x2 = x * x
    x4 = x2 * x2
    y2 = y * y
    f = (4.0 - 2.1 * x2 + x4 / 3.0) * x2 + x * y + (4.0 * y2 - 4.0) * y2
    return f, 8.0 * x - 8.4 * x2 * x + 2.0 * x4 * x + y, x - 8.0 * y + 16.0 * y2 * y


@register("six_hump_camel", (), "Six-hump camel: two global minima among four local ones.")
def six_hump_camel() -> FormulaLandscape:
    """f(x, y) = (4 − 2.1x² + x⁴/3) x² + xy + (−4 + 4y²) y²: f* = −1.03162845348988 at ±(0.0898, −0.7127)."""
    return FormulaLandscape(
        name="six_hump_camel",
        formula=six_hump_camel_formula,
        p=(),
        params={},
        bounds=((-3.0, 3.0), (-2.0, 2.0)),
        # roots of ∇f = 0 found by Newton's method in 40-digit arithmetic
        minima=((0.08984201310031806, -0.7126564030207396), (-0.08984201310031806, 0.7126564030207396)),
        minimum_value=-1.0316284534898774,
        default_start=(-1.5, 1.5),
        description="two global among six local minima",
    )


def rastrigin_formula(x, y, p):
    a = p[0]
    tau = 2.0 * xp.pi
    f = 2.0 * a + x * x + y * y - a * (xp.cos(tau * x) + xp.cos(tau * y))
    return f, 2.0 * x + tau * a * xp.sin(tau * x), 2.0 * y + tau * a * xp.sin(tau * y)


@register(
    "rastrigin",
    (Param("A", 10.0, 0.0, 20.0, "amplitude of the cosine ripples (0 leaves a plain bowl)"),),
    "Rastrigin: a bowl covered in a lattice of local minima.",
)
def rastrigin(A: float) -> FormulaLandscape:
    """f(x, y) = 2A + x² − A cos 2πx + y² − A cos 2πy: minimum 0 at the origin, local minima near integers."""
    return FormulaLandscape(
        name="rastrigin",
        formula=rastrigin_formula,
        p=(A,),
        params={"A": A},
        bounds=((-5.12, 5.12), (-5.12, 5.12)),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        default_start=(-4.5, 4.25),
        description="lattice of local minima",
    )


STYBLINSKI_TANG_X = -2.903534027771177  # root of 4x³ − 32x + 5 = 0 (40-digit Newton, rounded)


def styblinski_tang_formula(x, y, p):
    x2 = x * x
    y2 = y * y
    f = 0.5 * (x2 * x2 - 16.0 * x2 + 5.0 * x + y2 * y2 - 16.0 * y2 + 5.0 * y)
    return f, 2.0 * x2 * x - 16.0 * x + 2.5, 2.0 * y2 * y - 16.0 * y + 2.5


@register("styblinski_tang", (), "Styblinski–Tang: a global minimum and three deceptive local ones.")
def styblinski_tang() -> FormulaLandscape:
    """f(x, y) = ½ Σ (xᵢ⁴ − 16xᵢ² + 5xᵢ): minimum at x = y = −2.9035 (root of 4x³ − 32x + 5), f* ≈ −78.33."""
    return FormulaLandscape(
        name="styblinski_tang",
        formula=styblinski_tang_formula,
        p=(),
        params={},
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        minima=((STYBLINSKI_TANG_X, STYBLINSKI_TANG_X),),
        minimum_value=-78.33233140754282,
        default_start=(3.5, 4.5),
        description="deceptive local minima",
    )


# --- saddle points ----------------------------------------------------------------------


def saddle_formula(x, y, p):
    return x * x - y * y, 2.0 * x, -2.0 * y


@register("saddle", (), "Saddle x² − y²: unbounded below; a run approaches the saddle, then escapes.")
def saddle() -> FormulaLandscape:
    """f(x, y) = x² − y²: a saddle at the origin, stable along x, unstable along y; no minimum."""
    return FormulaLandscape(
        name="saddle",
        formula=saddle_formula,
        p=(),
        params={},
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        minima=(),
        minimum_value=None,
        default_start=(-1.5, 0.01),  # just off the stable manifold y = 0
        description="saddle point",
    )


def monkey_saddle_formula(x, y, p):
    return x * x * x - 3.0 * x * y * y, 3.0 * (x * x - y * y), -6.0 * x * y


@register("monkey_saddle", (), "Monkey saddle x³ − 3xy²: a flat, degenerate saddle with three valleys.")
def monkey_saddle() -> FormulaLandscape:
    """f(x, y) = x³ − 3xy² = r³ cos 3φ: zero gradient and Hessian at the origin; no minimum."""
    return FormulaLandscape(
        name="monkey_saddle",
        formula=monkey_saddle_formula,
        p=(),
        params={},
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        minima=(),
        minimum_value=None,
        default_start=(1.5, 0.05),  # on a ridge (φ ≈ 0), sliding towards the flat origin
        description="degenerate saddle",
    )


# --- vanishing and exploding gradients --------------------------------------------------


def plateau_formula(x, y, p):
    w2 = p[0] * p[0]
    e = xp.exp(-(x * x + y * y) / (2.0 * w2))
    return 1.0 - e, x * e / w2, y * e / w2


@register(
    "plateau",
    (Param("width", 0.5, 0.25, 0.7, "width w of the Gaussian well"),),
    "Plateau: a narrow Gaussian well in a wide flat plain where the gradient nearly vanishes.",
)
def plateau(width: float) -> FormulaLandscape:
    """f(x, y) = 1 − exp(−(x² + y²) / 2w²): |∇f| = (r/w²) e^{−r²/2w²} is ≈ 0 a few widths out.

    The start sits at r = 3√2 w, where |∇f| = 3√2 e^{−9} / w ≈ 5e−4 / w: plain SGD crawls,
    while adaptive methods (Adam, RMSprop) normalize the tiny gradient and cross.
    """
    return FormulaLandscape(
        name="plateau",
        formula=plateau_formula,
        p=(width,),
        params={"width": width},
        bounds=((-3.0, 3.0), (-3.0, 3.0)),
        minima=((0.0, 0.0),),
        minimum_value=0.0,
        default_start=(-3.0 * width, 3.0 * width),
        description="vanishing gradient",
    )


def cliff_formula(x, y, p):
    height, steepness = p
    t = xp.tanh(steepness * (x - 1.0))
    f = 0.25 * ((x - 2.0) ** 2 + y * y) + 0.5 * height * (1.0 + t)
    return f, 0.5 * (x - 2.0) + 0.5 * height * steepness * (1.0 - t * t), 0.5 * y


@register(
    "cliff",
    (
        Param("height", 5.0, 1.0, 10.0, "height h of the cliff", log=True),
        Param("steepness", 50.0, 5.0, 100.0, "steepness s: face ~1/s wide, slope up to h·s/2", log=True),
    ),
    "Cliff: a gentle bowl pulls the iterate into a steep wall whose face catapults it back.",
)
def cliff(height: float, steepness: float) -> FormulaLandscape:
    """f(x, y) = ¼((x − 2)² + y²) + ½h(1 + tanh s(x − 1)), after Goodfellow et al., Deep Learning, Fig. 8.3.

    The bowl, centred behind a wall of height h at x = 1, pulls the start towards the wall; the
    global minimum sits at the wall's foot, where the curvature is about s. Gradient descent
    with lr below about 2/s settles there; above it, a step onto the face, whose gradient is up
    to h·s/2, catapults the iterate far back across the bowl. The terrace behind the wall holds
    a local minimum near (2, 0) with f ≈ h. The foot has no closed form: it is polished by
    Newton's method on the analytic gradient from the asymptotic guess x ≈ 1 − ln(4hs)/(2s).
    """
    p = (height, steepness)
    guess = (1.0 - math.log(4.0 * height * steepness) / (2.0 * steepness), 0.0)
    minimum, value = _polish_minimum(cliff_formula, p, guess)
    return FormulaLandscape(
        name="cliff",
        formula=cliff_formula,
        p=p,
        params={"height": height, "steepness": steepness},
        bounds=((-3.0, 3.0), (-3.0, 3.0)),
        minima=(minimum,),
        minimum_value=value,
        default_start=(-2.5, 2.0),
        description="exploding gradient",
    )


SHARP = (1.0, 0.1, -1.0)  # the sharp well's depth, width w and centre x: curvature about 1/w² = 100
FLAT = (0.9, 0.7, 1.0)  # the flat well's: curvature about 0.9/w² ≈ 1.8
BOWL = 0.05  # c in c(x² + y²): keeps every run in the window


def sharp_flat_formula(x, y, p):
    depth_s, width_s, centre_s, depth_f, width_f, centre_f, c = p
    ws2, wf2 = width_s * width_s, width_f * width_f
    es = depth_s * xp.exp(-((x - centre_s) ** 2 + y * y) / (2.0 * ws2))
    ef = depth_f * xp.exp(-((x - centre_f) ** 2 + y * y) / (2.0 * wf2))
    f = 1.0 + c * (x * x + y * y) - es - ef
    fx = 2.0 * c * x + es * (x - centre_s) / ws2 + ef * (x - centre_f) / wf2
    fy = 2.0 * c * y + es * y / ws2 + ef * y / wf2
    return f, fx, fy


@register("sharp_flat", (), "Sharp and flat: a deep narrow well beside a shallower wide one (SAM's picture).")
def sharp_flat() -> FormulaLandscape:
    """f(x, y) = 1 + c(x² + y²) − a_s e^{−|θ − θ_s|²/2w_s²} − a_f e^{−|θ − θ_f|²/2w_f²}: a sharp well at θ_s = (−1, 0)
    (depth 1, width 0.1: curvature ≈ 100) and a flat one at θ_f = (1, 0) (depth 0.9, width 0.7: curvature ≈ 1.9).

    The sharp well is the global minimum and the flat one a local minimum, each a little off its centre (the other
    well's tail and the bowl c = 0.05 pull it): both are polished by Newton's method on the analytic gradient. A
    gradient step ρ is stable in a well of curvature λ for ρλ < 2: ρ = 0.02 at most in the sharp well, ρ ≈ 1 in the
    flat one. The start sits on the sharp well's rim.
    """
    p = (*SHARP, *FLAT, BOWL)
    minimum, value = _polish_minimum(sharp_flat_formula, p, (SHARP[2], 0.0))
    return FormulaLandscape(
        name="sharp_flat",
        formula=sharp_flat_formula,
        p=p,
        params={},
        bounds=((-2.5, 2.5), (-2.5, 2.5)),
        minima=(minimum,),
        minimum_value=value,
        default_start=(-1.5, 1.5),
        description="a sharp and a flat minimum",
    )


def sharp_flat_local_minimum() -> tuple[tuple[float, float], float]:
    """The flat well's minimum of ``sharp_flat`` (a local one) and f there."""
    return _polish_minimum(sharp_flat_formula, (*SHARP, *FLAT, BOWL), (FLAT[2], 0.0))


# --- helpers ----------------------------------------------------------------------------


def _polish_minimum(formula, p, guess, iterations: int = 30) -> tuple[tuple[float, float], float]:
    """Newton's method on the analytic gradient of ``formula`` from ``guess``, in float64.

    The Hessian is the central difference of the analytic gradient (error O(h²), about 1e-10
    relative), so the iteration converges to where the analytic gradient vanishes to rounding.
    Returns the point of smallest gradient seen and f there (for surfaces whose minimum has
    no closed form).
    """
    grad_fn = bind_namespace(formula, np)
    point = np.array(guess, dtype=np.float64)
    best, best_norm = point.copy(), math.inf
    for _ in range(iterations):
        _, fx, fy = grad_fn(point[0], point[1], p)
        norm = math.hypot(fx, fy)
        if norm < best_norm:
            best, best_norm = point.copy(), norm
        if norm == 0.0:
            break
        hessian = np.empty((2, 2))
        for axis in range(2):
            step = np.zeros(2)
            step[axis] = 1e-5 * max(1.0, abs(point[axis]))
            _, px, py = grad_fn(*(point + step), p)
            _, mx, my = grad_fn(*(point - step), p)
            hessian[:, axis] = [(px - mx) / (2.0 * step[axis]), (py - my) / (2.0 * step[axis])]
        point = point - np.linalg.solve(0.5 * (hessian + hessian.T), [fx, fy])
    return (float(best[0]), float(best[1])), float(grad_fn(best[0], best[1], p)[0])
