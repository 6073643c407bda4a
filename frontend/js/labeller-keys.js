// The labeller's keyboard: label keys, arrows, tools, brush size, zoom, heatmap, undo/redo/save, and
// Space held for panning. The page hands in what each key does; letters typed in a field never act.

import { isTyping } from "./dom.js";

/** a: {undo, redo, save, setLabel, go, setTool, smaller, larger, fit, oneToOne, toggleHeat, space(down)} */
export function bindLabellerKeys(a) {
  document.addEventListener("keydown", (e) => {
    if (isTyping(e)) return;
    const k = e.key;
    const mod = e.ctrlKey || e.metaKey;
    if (mod && (k === "z" || k === "Z")) {
      e.preventDefault();
      if (e.shiftKey) a.redo();
      else a.undo();
      return;
    }
    if (mod && (k === "y" || k === "Y")) {
      e.preventDefault();
      a.redo();
      return;
    }
    if (mod && (k === "s" || k === "S")) {
      e.preventDefault();
      a.save();
      return;
    }
    if (mod || e.altKey) return;
    if (k === " ") {
      a.space(true, e);
      return;
    }
    const actions = {
      g: () => a.setLabel("good"),
      d: () => a.setLabel("defective"),
      u: () => a.setLabel("unlabeled"),
      ArrowLeft: () => a.go(-1),
      ArrowRight: () => a.go(1),
      b: () => a.setTool("brush"),
      e: () => a.setTool("eraser"),
      h: () => a.setTool("pan"),
      "[": a.smaller,
      "]": a.larger,
      f: a.fit,
      1: a.oneToOne,
      m: a.toggleHeat,
    };
    const fn = actions[k] || actions[k.toLowerCase()];
    if (fn && !(k.startsWith("Arrow") && e.target.type === "range")) {
      e.preventDefault();
      fn();
    }
  });
  document.addEventListener("keyup", (e) => {
    if (e.key === " ") a.space(false, e);
  });
}
