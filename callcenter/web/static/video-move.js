// The self-view is small and can be moved out of the way, with a pointer or with the arrow keys (Home puts it
// back): an offset from its place, kept inside the call's area so it can never be lost off screen.
const STEP = 24;
const KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

export function clamp(offset, tile, area) {
  // tile: where the tile is without the offset; area: the box it must stay in (both DOMRect-like).
  return {
    x: Math.min(area.right - tile.right, Math.max(area.left - tile.left, offset.x)),
    y: Math.min(area.bottom - tile.bottom, Math.max(area.top - tile.top, offset.y)),
  };
}

export function movable(tile, area) {
  let offset = { x: 0, y: 0 };
  const home = () => {
    const moved = tile.getBoundingClientRect();
    return { left: moved.left - offset.x, right: moved.right - offset.x, top: moved.top - offset.y,
             bottom: moved.bottom - offset.y };
  };
  const place = (wanted) => {
    offset = clamp(wanted, home(), area.getBoundingClientRect());
    tile.style.transform = `translate(${offset.x}px, ${offset.y}px)`;
    tile.dataset.moved = String(offset.x !== 0 || offset.y !== 0);
  };
  tile.addEventListener("keydown", (event) => {
    if (event.key === "Home") place({ x: 0, y: 0 });
    else if (KEYS[event.key]) place({ x: offset.x + KEYS[event.key][0] * STEP, y: offset.y + KEYS[event.key][1] * STEP });
    else return;
    event.preventDefault();
  });
  tile.addEventListener("pointerdown", (event) => {
    const start = { x: event.clientX - offset.x, y: event.clientY - offset.y };
    tile.setPointerCapture(event.pointerId);
    const follow = (move) => place({ x: move.clientX - start.x, y: move.clientY - start.y });
    const stop = () => {
      tile.removeEventListener("pointermove", follow);
      tile.removeEventListener("pointerup", stop);
      tile.removeEventListener("pointercancel", stop);
    };
    tile.addEventListener("pointermove", follow);
    tile.addEventListener("pointerup", stop);
    tile.addEventListener("pointercancel", stop);
  });
  return { place, offset: () => offset };
}
