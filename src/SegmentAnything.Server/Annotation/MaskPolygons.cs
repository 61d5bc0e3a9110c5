namespace SegmentAnything.Server.Annotation;

/// <summary>
/// Mask outlines as COCO polygons: the outer boundary of every connected region, traced along pixel
/// edges (so the ring encloses exactly the region's pixels) and then thinned with Douglas-Peucker.
/// Holes are not representable in COCO polygons; the RLE stored beside them is the exact mask.
/// </summary>
public static class MaskPolygons
{
    /// <summary>Flat rings [x0, y0, x1, y1, ...] in pixel-corner coordinates, each with at least 3 points.</summary>
    public static List<double[]> Trace(ReadOnlySpan<bool> mask, int height, int width, double tolerance)
    {
        if ((long)height * width != mask.Length) throw new ArgumentException($"Mask of {mask.Length} values does not match {width}x{height}.");
        int cw = width + 1;
        // Each boundary edge runs clockwise around the foreground (y down); a corner has at most two outgoing edges.
        var outgoing = new Dictionary<int, (int A, int B)>();
        void AddEdge(int from, int to)
        {
            if (outgoing.TryGetValue(from, out var e)) outgoing[from] = (e.A, to);
            else outgoing[from] = (to, -1);
        }
        for (int y = 0; y < height; y++)
        {
            int row = y * width;
            for (int x = 0; x < width; x++)
            {
                if (!mask[row + x]) continue;
                int tl = y * cw + x, tr = tl + 1, bl = tl + cw, br = bl + 1;
                if (y == 0 || !mask[row - width + x]) AddEdge(tl, tr);
                if (x == width - 1 || !mask[row + x + 1]) AddEdge(tr, br);
                if (y == height - 1 || !mask[row + width + x]) AddEdge(br, bl);
                if (x == 0 || !mask[row + x - 1]) AddEdge(bl, tl);
            }
        }
        var rings = new List<double[]>();
        while (outgoing.Count > 0)
        {
            int start = outgoing.Keys.First();
            var ring = new List<(int X, int Y)>();
            int prev = -1, at = start;
            do
            {
                ring.Add((at % cw, at / cw));
                int next = TakeEdge(outgoing, at, prev, cw);
                prev = at;
                at = next;
            } while (at != start);
            var corners = DropCollinear(ring);
            if (SignedArea(corners) <= 0) continue; // a hole
            var simple = tolerance > 0 ? Simplify(corners, tolerance) : corners;
            if (simple.Count < 3) simple = corners;
            rings.Add(simple.SelectMany(p => new double[] { p.X, p.Y }).ToArray());
        }
        return rings;
    }

    /// <summary>
    /// Leaves <paramref name="at"/> by one of its outgoing edges. Where two regions touch diagonally the
    /// corner has two; taking the right turn keeps each region's ring to itself.
    /// </summary>
    private static int TakeEdge(Dictionary<int, (int A, int B)> outgoing, int at, int prev, int cw)
    {
        var (a, b) = outgoing[at];
        int pick = a;
        if (b >= 0 && prev >= 0)
        {
            int dx = at % cw - prev % cw, dy = at / cw - prev / cw;
            // Right turn in y-down coordinates: (dx, dy) -> (-dy, dx).
            int rx = at % cw - dy, ry = at / cw + dx;
            pick = b == ry * cw + rx ? b : a;
        }
        if (b < 0) outgoing.Remove(at);
        else outgoing[at] = pick == a ? (b, -1) : (a, -1);
        return pick;
    }

    private static List<(int X, int Y)> DropCollinear(List<(int X, int Y)> ring)
    {
        var kept = new List<(int X, int Y)>(ring.Count);
        int n = ring.Count;
        for (int i = 0; i < n; i++)
        {
            var p = ring[(i + n - 1) % n];
            var c = ring[i];
            var q = ring[(i + 1) % n];
            if ((c.X - p.X) * (q.Y - c.Y) - (c.Y - p.Y) * (q.X - c.X) != 0) kept.Add(c);
        }
        return kept.Count >= 3 ? kept : ring;
    }

    private static double SignedArea(List<(int X, int Y)> ring)
    {
        double s = 0;
        for (int i = 0; i < ring.Count; i++)
        {
            var (x0, y0) = ring[i];
            var (x1, y1) = ring[(i + 1) % ring.Count];
            s += (double)x0 * y1 - (double)x1 * y0;
        }
        return s / 2;
    }

    /// <summary>Douglas-Peucker on a closed ring: split at the vertex farthest from the first, simplify both halves.</summary>
    private static List<(int X, int Y)> Simplify(List<(int X, int Y)> ring, double tolerance)
    {
        int n = ring.Count, far = 0;
        double best = -1;
        for (int i = 1; i < n; i++)
        {
            double d = Math.Pow(ring[i].X - ring[0].X, 2) + Math.Pow(ring[i].Y - ring[0].Y, 2);
            if (d > best) (best, far) = (d, i);
        }
        var keep = new bool[n + 1];
        keep[0] = keep[far] = keep[n] = true;
        var closed = new List<(int X, int Y)>(ring) { ring[0] };
        var stack = new Stack<(int, int)>();
        stack.Push((0, far));
        stack.Push((far, n));
        while (stack.Count > 0)
        {
            var (s, e) = stack.Pop();
            double maxD = -1;
            int idx = -1;
            for (int i = s + 1; i < e; i++)
            {
                double d = SegmentDistance(closed[i], closed[s], closed[e]);
                if (d > maxD) (maxD, idx) = (d, i);
            }
            if (idx >= 0 && maxD > tolerance)
            {
                keep[idx] = true;
                stack.Push((s, idx));
                stack.Push((idx, e));
            }
        }
        var result = new List<(int X, int Y)>();
        for (int i = 0; i < n; i++) if (keep[i]) result.Add(ring[i]);
        return result;
    }

    private static double SegmentDistance((int X, int Y) p, (int X, int Y) a, (int X, int Y) b)
    {
        double vx = b.X - a.X, vy = b.Y - a.Y, wx = p.X - a.X, wy = p.Y - a.Y;
        double len2 = vx * vx + vy * vy;
        double t = len2 == 0 ? 0 : Math.Clamp((wx * vx + wy * vy) / len2, 0, 1);
        double dx = wx - t * vx, dy = wy - t * vy;
        return Math.Sqrt(dx * dx + dy * dy);
    }
}
