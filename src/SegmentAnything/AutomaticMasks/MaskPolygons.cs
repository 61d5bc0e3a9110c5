namespace SegmentAnything.AutomaticMasks;

/// <summary>
/// One closed ring of a mask's outline: vertices (x, y) interleaved as <c>[x0, y0, x1, y1, …]</c>, the
/// ring implicitly closed from the last vertex back to the first. Coordinates are pixel corners: pixel
/// (x, y) covers [x, x+1) × [y, y+1). Outer rings run counter-clockwise on screen (y down, negative
/// shoelace area), holes clockwise.
/// </summary>
public sealed record MaskPolygon(double[] Points, bool IsHole)
{
    public int VertexCount => Points.Length / 2;

    /// <summary>Shoelace area, positive for holes and negative for outer rings.</summary>
    public double SignedArea => MaskPolygons.SignedArea(Points);
}

/// <summary>
/// Polygon outlines of binary masks (outer contours and holes) for COCO-polygon and LabelMe-style
/// consumers, and the even-odd scanline fill that turns them back into masks.
/// </summary>
/// <remarks>
/// The outline follows the pixel edges (the "cracks" between set and unset pixels) rather than the
/// centres of the boundary pixels as OpenCV's <c>findContours</c> does: a polygon through pixel centres
/// cuts every boundary pixel in half, while a crack outline filled back at pixel centres gives the mask
/// exactly. Connectivity is OpenCV's 8-connectivity of set pixels: where two set pixels touch only at a
/// corner, the ring passes through that corner once on each side, so both stay in one ring.
/// </remarks>
public static class MaskPolygons
{
    // Directions: 0 right (+x), 1 down (+y), 2 left (−x), 3 up (−y).
    private static readonly int[] Dx = [1, 0, -1, 0];
    private static readonly int[] Dy = [0, 1, 0, -1];

    /// <summary>
    /// Outgoing crack edges of a vertex, as a bit per direction, by its four pixels (bit 0 NW, 1 NE,
    /// 2 SW, 3 SE): each edge is walked with the set pixel on its left.
    /// </summary>
    private static readonly byte[] OutEdges = BuildOutEdges();

    private static byte[] BuildOutEdges()
    {
        var table = new byte[16];
        for (int code = 0; code < 16; code++)
        {
            bool nw = (code & 1) != 0, ne = (code & 2) != 0, sw = (code & 4) != 0, se = (code & 8) != 0;
            int bits = 0;
            if (ne && !se) bits |= 1 << 0;
            if (se && !sw) bits |= 1 << 1;
            if (sw && !nw) bits |= 1 << 2;
            if (nw && !ne) bits |= 1 << 3;
            table[code] = (byte)bits;
        }
        return table;
    }

    /// <summary>
    /// The rings of a row-major [height, width] mask: every outer contour and every hole, in the raster
    /// order of their top-left corner. With <paramref name="tolerance"/> &gt; 0 each ring is simplified
    /// by Douglas–Peucker (no vertex moves farther than the tolerance from the simplified ring); rings
    /// that simplify to fewer than three vertices are dropped. Simplification may let nearby rings touch.
    /// </summary>
    public static List<MaskPolygon> FromMask(ReadOnlySpan<bool> mask, int height, int width, double tolerance = 0)
    {
        if (height <= 0 || width <= 0 || (long)height * width != mask.Length)
            throw new ArgumentException($"Mask of {mask.Length} values does not match {width}x{height}.");
        if (!(tolerance >= 0) || double.IsInfinity(tolerance))
            throw new ArgumentOutOfRangeException(nameof(tolerance), tolerance, "The simplification tolerance must be a finite number ≥ 0.");
        var result = new List<MaskPolygon>();
        var (x0, y0, x1, y1) = SetBounds(mask, height, width);
        if (x1 < x0) return result;

        // Vertices of the bounding box of the set pixels, one more than the pixels each way.
        int vw = x1 - x0 + 2, vh = y1 - y0 + 2;
        var edges = new byte[(long)vw * vh];
        for (int vy = 0; vy < vh; vy++)
        {
            int py = y0 + vy; // the pixel row below the vertex
            for (int vx = 0; vx < vw; vx++)
            {
                int px = x0 + vx; // the pixel column right of the vertex
                int code = (Get(mask, width, height, px - 1, py - 1) ? 1 : 0) | (Get(mask, width, height, px, py - 1) ? 2 : 0)
                    | (Get(mask, width, height, px - 1, py) ? 4 : 0) | (Get(mask, width, height, px, py) ? 8 : 0);
                // Low nibble: edges not yet walked; high nibble: all of them, which tells a saddle.
                edges[vy * vw + vx] = (byte)(OutEdges[code] * 17);
            }
        }

        var ring = new List<int>();
        for (int start = 0; start < edges.Length; start++)
        {
            if ((edges[start] & 15) == 0) continue;
            ring.Clear();
            int v = start, dir = System.Numerics.BitOperations.TrailingZeroCount(edges[start] & 15u), prevDir = -1;
            // Each edge has one successor and one predecessor, so the walk comes back to its first edge.
            while ((edges[v] & (1 << dir)) != 0)
            {
                edges[v] &= (byte)~(1 << dir);
                if (dir != prevDir) ring.Add(v); // corners only
                prevDir = dir;
                v += Dx[dir] + Dy[dir] * vw;
                int all = edges[v] >> 4;
                // Set pixels touching only at this corner: two edges leave it, and the right turn keeps
                // both pixels in one ring (8-connectivity).
                dir = all is 0b0101 or 0b1010 ? (dir + 1) & 3 : System.Numerics.BitOperations.TrailingZeroCount((uint)all);
            }
            var points = new double[ring.Count * 2];
            for (int i = 0; i < ring.Count; i++)
            {
                points[2 * i] = x0 + ring[i] % vw;
                points[2 * i + 1] = y0 + ring[i] / vw;
            }
            points = DropCollinear(points);
            if (tolerance > 0) points = Simplify(points, tolerance);
            if (points.Length < 6) continue;
            result.Add(new MaskPolygon(points, SignedArea(points) > 0));
        }
        return result;
    }

    private static bool Get(ReadOnlySpan<bool> mask, int width, int height, int x, int y) =>
        (uint)x < (uint)width && (uint)y < (uint)height && mask[y * width + x];

    private static (int X0, int Y0, int X1, int Y1) SetBounds(ReadOnlySpan<bool> mask, int height, int width)
    {
        int x0 = width, x1 = -1, y0 = height, y1 = -1;
        for (int y = 0; y < height; y++)
        {
            var row = mask.Slice(y * width, width);
            int first = row.IndexOf(true);
            if (first < 0) continue;
            if (y0 == height) y0 = y;
            y1 = y;
            x0 = Math.Min(x0, first);
            x1 = Math.Max(x1, row.LastIndexOf(true));
        }
        return (x0, y0, x1, y1);
    }

    /// <summary>Removes vertices where the ring goes straight on (the first vertex of a trace may be one).</summary>
    private static double[] DropCollinear(double[] p)
    {
        int n = p.Length / 2;
        var keep = new List<double>(p.Length);
        for (int i = 0; i < n; i++)
        {
            int a = (i + n - 1) % n, b = (i + 1) % n;
            double cross = (p[2 * i] - p[2 * a]) * (p[2 * b + 1] - p[2 * i + 1]) - (p[2 * i + 1] - p[2 * a + 1]) * (p[2 * b] - p[2 * i]);
            if (cross != 0) { keep.Add(p[2 * i]); keep.Add(p[2 * i + 1]); }
        }
        return keep.ToArray();
    }

    /// <summary>
    /// Douglas–Peucker on a closed ring: split at the first vertex and the vertex farthest from it, then
    /// simplify both open chains.
    /// </summary>
    public static double[] Simplify(double[] ring, double tolerance)
    {
        ArgumentNullException.ThrowIfNull(ring);
        int n = ring.Length / 2;
        if (n < 3 || tolerance <= 0) return (double[])ring.Clone();
        int far = 0;
        double best = -1;
        for (int i = 1; i < n; i++)
        {
            double dx = ring[2 * i] - ring[0], dy = ring[2 * i + 1] - ring[1], d = dx * dx + dy * dy;
            if (d > best) { best = d; far = i; }
        }
        var keep = new bool[n + 1];
        keep[0] = keep[far] = keep[n] = true;
        MarkChain(ring, n, 0, far, tolerance, keep);
        MarkChain(ring, n, far, n, tolerance, keep);
        var outp = new List<double>();
        for (int i = 0; i < n; i++)
            if (keep[i]) { outp.Add(ring[2 * i]); outp.Add(ring[2 * i + 1]); }
        return outp.ToArray();
    }

    /// <summary>Iterative Douglas–Peucker over ring indices [a, b] (index n is vertex 0 again).</summary>
    private static void MarkChain(double[] ring, int n, int a, int b, double tolerance, bool[] keep)
    {
        var stack = new Stack<(int, int)>();
        stack.Push((a, b));
        while (stack.Count > 0)
        {
            var (s, e) = stack.Pop();
            if (e - s < 2) continue;
            double ax = ring[2 * (s % n)], ay = ring[2 * (s % n) + 1], bx = ring[2 * (e % n)], by = ring[2 * (e % n) + 1];
            int worst = -1;
            double worstD = tolerance;
            for (int i = s + 1; i < e; i++)
            {
                double d = SegmentDistance(ring[2 * i], ring[2 * i + 1], ax, ay, bx, by);
                if (d > worstD) { worstD = d; worst = i; }
            }
            if (worst < 0) continue;
            keep[worst] = true;
            stack.Push((s, worst));
            stack.Push((worst, e));
        }
    }

    private static double SegmentDistance(double px, double py, double ax, double ay, double bx, double by)
    {
        double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
        double t = len2 == 0 ? 0 : Math.Clamp(((px - ax) * dx + (py - ay) * dy) / len2, 0, 1);
        double ex = ax + t * dx - px, ey = ay + t * dy - py;
        return Math.Sqrt(ex * ex + ey * ey);
    }

    /// <summary>Shoelace area of an interleaved ring (positive clockwise on screen, y down).</summary>
    public static double SignedArea(ReadOnlySpan<double> points)
    {
        int n = points.Length / 2;
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            int j = (i + 1) % n;
            sum += points[2 * i] * points[2 * j + 1] - points[2 * j] * points[2 * i + 1];
        }
        return sum / 2;
    }

    /// <summary>
    /// COCO's polygon segmentation: the outer rings only, each <c>[x0, y0, x1, y1, …]</c>. COCO readers
    /// (pycocotools' <c>frPyObjects</c>) take the union of the polygons, so holes cannot be expressed
    /// there; <see cref="FromMask"/> keeps them for consumers with even-odd or hole semantics.
    /// </summary>
    public static List<double[]> ToCoco(IEnumerable<MaskPolygon> polygons) =>
        polygons.Where(p => !p.IsHole).Select(p => (double[])p.Points.Clone()).ToList();

    /// <summary>
    /// Fills rings back into a row-major [height, width] mask with the even-odd rule, sampling at pixel
    /// centres (pixel (x, y) is set when (x + ½, y + ½) lies inside an odd number of rings).
    /// </summary>
    public static bool[] Fill(IEnumerable<double[]> rings, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(rings);
        if (height <= 0 || width <= 0 || (long)height * width > Array.MaxLength)
            throw new ArgumentException($"Invalid mask size {width}x{height}.");
        var edges = new List<(double X0, double Y0, double X1, double Y1)>();
        foreach (var r in rings)
        {
            int n = r.Length / 2;
            if (r.Length % 2 != 0) throw new ArgumentException("A ring needs an even number of coordinates.");
            for (int i = 0; i < n; i++)
            {
                int j = (i + 1) % n;
                if (r[2 * i + 1] != r[2 * j + 1]) edges.Add((r[2 * i], r[2 * i + 1], r[2 * j], r[2 * j + 1]));
            }
        }
        var mask = new bool[height * width];
        var xs = new List<double>();
        for (int y = 0; y < height; y++)
        {
            double yc = y + 0.5;
            xs.Clear();
            foreach (var (ex0, ey0, ex1, ey1) in edges)
            {
                // Half-open in y so a vertex on the scanline counts once.
                if (yc < Math.Min(ey0, ey1) || yc >= Math.Max(ey0, ey1)) continue;
                xs.Add(ex0 + (yc - ey0) * (ex1 - ex0) / (ey1 - ey0));
            }
            xs.Sort();
            for (int k = 0; k + 1 < xs.Count; k += 2)
            {
                // Pixels whose centre x + ½ lies in [xa, xb).
                int from = Math.Max(0, (int)Math.Ceiling(xs[k] - 0.5));
                int to = Math.Min(width, (int)Math.Ceiling(xs[k + 1] - 0.5));
                for (int x = from; x < to; x++) mask[y * width + x] = true;
            }
        }
        return mask;
    }

    /// <inheritdoc cref="Fill(IEnumerable{double[]}, int, int)"/>
    public static bool[] Fill(IEnumerable<MaskPolygon> polygons, int height, int width) =>
        Fill(polygons.Select(p => p.Points), height, width);
}
