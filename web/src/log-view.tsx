/**
 * @module A session's live log: follows `GET /v1/sessions/:id/logs?follow=1` (resuming after the
 * last line seen when the connection breaks), renders ANSI colours, and shows only the rows in view
 * (a fixed row height), so 100,000 lines scroll without freezing. It follows the end while the view
 * is at the bottom; scrolled up, it stays put and offers "Jump to end".
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { type AnsiSpan, type AnsiStyle, parseAnsi } from './ansi.js';
import { stream } from './api.js';

const ROW = 18;
const OVERSCAN = 30;

interface Row {
  id: number;
  stream: string;
  spans: AnsiSpan[];
}

function spanStyle(s: AnsiStyle): Record<string, string> {
  const o: Record<string, string> = {};
  if (s.fg) o.color = s.fg;
  if (s.bg) o.background = s.bg;
  if (s.bold) o.fontWeight = 'bold';
  if (s.dim) o.opacity = '0.7';
  if (s.italic) o.fontStyle = 'italic';
  if (s.underline) o.textDecoration = 'underline';
  return o;
}

/** `generation`: changes when the session has more to run (a new task): a finished stream is followed again. */
export function LogView({ sessionId, generation = 0 }: { sessionId: string; generation?: number }) {
  const rows = useRef<Row[]>([]);
  const lastId = useRef(0);
  const shownFor = useRef('');
  const styles = useRef(new Map<string, AnsiStyle>());
  const box = useRef<HTMLDivElement>(null);
  const follow = useRef(true);
  const [, setTick] = useState(0);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);
  const [status, setStatus] = useState('connecting');
  const frame = useRef(0);

  useEffect(() => {
    if (shownFor.current !== sessionId) {
      shownFor.current = sessionId;
      rows.current = [];
      styles.current.clear();
      lastId.current = 0;
    }
    const ac = new AbortController();
    const redraw = () => {
      if (frame.current) return;
      frame.current = requestAnimationFrame(() => {
        frame.current = 0;
        setTick((t) => t + 1);
      });
    };
    (async () => {
      let delay = 500;
      while (!ac.signal.aborted) {
        let ended = false;
        try {
          await stream(
            `/v1/sessions/${encodeURIComponent(sessionId)}/logs?follow=1&after=${lastId.current}`,
            (e) => {
              if (e.event === 'line') {
                const l = JSON.parse(e.data) as { id: number; taskId: string; stream: string; line: string };
                if (l.id <= lastId.current) return;
                lastId.current = l.id;
                const key = `${l.taskId}:${l.stream}`;
                let st = styles.current.get(key);
                if (!st) {
                  st = {};
                  styles.current.set(key, st);
                }
                rows.current.push({ id: l.id, stream: l.stream, spans: parseAnsi(l.line, st) });
                redraw();
              } else if (e.event === 'end') {
                ended = true;
                setStatus('ended');
              }
            },
            ac.signal,
            () => setStatus('live'),
          );
          if (ended || ac.signal.aborted) return;
        } catch {
          setStatus('reconnecting');
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    })();
    return () => {
      ac.abort();
      if (frame.current) cancelAnimationFrame(frame.current);
      frame.current = 0;
    };
  }, [sessionId, generation]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // After each render, while following, the view goes to the end (its height is the new one by now).
  const programmatic = useRef(false);
  useLayoutEffect(() => {
    const el = box.current;
    if (!el || !follow.current) return;
    const end = el.scrollHeight - el.clientHeight;
    if (el.scrollTop < end - 1) {
      programmatic.current = true;
      el.scrollTop = end;
    }
  });
  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    // Only the reader's own scrolling decides whether to follow; the view's own jumps to the end do not.
    if (programmatic.current) programmatic.current = false;
    else follow.current = el.scrollTop + el.clientHeight >= el.scrollHeight - ROW * 2;
    setScrollTop(el.scrollTop);
  };
  const jump = () => {
    follow.current = true;
    setTick((t) => t + 1);
  };

  const all = rows.current;
  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const lastRow = Math.min(all.length, Math.ceil((scrollTop + height) / ROW) + OVERSCAN);
  const visible = all.slice(first, lastRow);
  return (
    <section class="log" aria-label="Log">
      <div class="log-bar">
        <span data-testid="log-status">
          {all.length.toLocaleString('en')} lines · {status}
        </span>
        {!follow.current && (
          <button type="button" onClick={jump}>
            Jump to end
          </button>
        )}
      </div>
      <div
        class="log-box"
        ref={box}
        onScroll={onScroll}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region takes focus so the keyboard can scroll it
        tabIndex={0}
        role="log"
        aria-live="off"
        aria-label="Session log"
        data-testid="log"
      >
        <div style={{ height: `${all.length * ROW}px`, position: 'relative' }}>
          {visible.map((r, i) => (
            <div
              key={r.id}
              class={`log-line ${r.stream === 'stderr' ? 'stderr' : r.stream === 'system' ? 'system' : ''}`}
              style={{ top: `${(first + i) * ROW}px` }}
            >
              {r.spans.map((s, j) => (
                <span key={j} style={spanStyle(s.style)}>
                  {s.text}
                </span>
              ))}
            </div>
          ))}
        </div>
      </div>
    </section>
  );
}
