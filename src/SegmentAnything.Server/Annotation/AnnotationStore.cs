using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using SegmentAnything.Imaging;

namespace SegmentAnything.Server.Annotation;

/// <summary>
/// The project database. WAL journal with synchronous=FULL: an insert has reached the disk when its
/// call returns, so a killed server loses nothing it had acknowledged. Each call opens a pooled
/// connection, so the store is safe to use from concurrent requests.
/// </summary>
public sealed class AnnotationStore
{
    /// <summary>Douglas-Peucker tolerance (pixels) for the polygons stored with each annotation.</summary>
    public const double DefaultPolygonTolerance = 1.0;

    private readonly string _connectionString;

    public string Path { get; }

    public AnnotationStore(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        if (System.IO.Path.GetDirectoryName(Path) is string dir) Directory.CreateDirectory(dir);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = Path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true }.ToString();
        using var c = Open();
        using (var cmd = c.CreateCommand())
        {
            cmd.CommandText = "PRAGMA journal_mode=WAL;";
            string mode = Convert.ToString(cmd.ExecuteScalar(), CultureInfo.InvariantCulture) ?? "";
            if (!mode.Equals("wal", StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException($"Could not put '{Path}' in WAL mode (got '{mode}').");
        }
        Migrations.Apply(c);
    }

    /// <summary>Releases pooled connections so the file can be moved or deleted (tests, export).</summary>
    public static void ReleaseFiles() => SqliteConnection.ClearAllPools();

    private SqliteConnection Open()
    {
        var c = new SqliteConnection(_connectionString);
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;";
        cmd.ExecuteNonQuery();
        return c;
    }

    public int SchemaVersion
    {
        get
        {
            using var c = Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "PRAGMA user_version;";
            return Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Registers an image (by its path relative to the images folder) or updates its size and hash.</summary>
    public long UpsertImage(string fileName, int width, int height, string? contentHash)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            INSERT INTO images(file_name, width, height, content_hash, added_at) VALUES ($f, $w, $h, $hash, $now)
            ON CONFLICT(file_name) DO UPDATE SET width = excluded.width, height = excluded.height,
                content_hash = COALESCE(excluded.content_hash, images.content_hash)
            RETURNING id;
            """;
        cmd.Parameters.AddWithValue("$f", fileName);
        cmd.Parameters.AddWithValue("$w", width);
        cmd.Parameters.AddWithValue("$h", height);
        cmd.Parameters.AddWithValue("$hash", (object?)contentHash ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$now", Now());
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public IReadOnlyList<ImageRecord> Images()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = """
            SELECT i.id, i.file_name, i.width, i.height, i.content_hash, (SELECT COUNT(*) FROM annotations a WHERE a.image_id = i.id)
            FROM images i ORDER BY i.file_name;
            """;
        using var r = cmd.ExecuteReader();
        var list = new List<ImageRecord>();
        while (r.Read()) list.Add(new ImageRecord(r.GetInt64(0), r.GetString(1), r.GetInt32(2), r.GetInt32(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetInt32(5)));
        return list;
    }

    public ImageRecord? Image(long id) => Images().FirstOrDefault(i => i.Id == id);

    public IReadOnlyList<CategoryRecord> Categories()
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id, name, supercategory FROM categories ORDER BY id;";
        using var r = cmd.ExecuteReader();
        var list = new List<CategoryRecord>();
        while (r.Read()) list.Add(new CategoryRecord(r.GetInt64(0), r.GetString(1), r.GetString(2)));
        return list;
    }

    public long EnsureCategory(string name)
    {
        string clean = CleanCategory(name);
        using var c = Open();
        return EnsureCategory(c, null, clean);
    }

    private static long EnsureCategory(SqliteConnection c, SqliteTransaction? tx, string name)
    {
        using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "INSERT INTO categories(name) VALUES ($n) ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id;";
        cmd.Parameters.AddWithValue("$n", name);
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    public static string CleanCategory(string? name)
    {
        string n = (name ?? "").Trim();
        if (n.Length == 0) throw new ArgumentException("A category name is required.");
        if (n.Length > 200) throw new ArgumentException("A category name must be at most 200 characters.");
        if (n.Any(char.IsControl)) throw new ArgumentException("A category name must not contain control characters.");
        return n;
    }

    /// <summary>Stores an annotation in one transaction; returns it as read back.</summary>
    public AnnotationRecord Add(NewAnnotation a)
    {
        string category = CleanCategory(a.Category);
        var mask = MaskRle.Decode(a.Rle);
        long area = a.Rle.Area;
        if (area == 0) throw new ArgumentException("The mask is empty.");
        var (bx, by, bw, bh) = MaskStats.BoundingBox(mask, a.Rle.Height, a.Rle.Width);
        var polygons = MaskPolygons.Trace(mask, a.Rle.Height, a.Rle.Width, DefaultPolygonTolerance);
        string now = Now();
        long id;
        using (var c = Open())
        using (var tx = c.BeginTransaction())
        {
            long categoryId = EnsureCategory(c, tx, category);
            using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = """
                INSERT INTO annotations(image_id, category_id, rle_counts, rle_height, rle_width, polygons, bbox, area,
                    predicted_iou, prompts, model, source, created_at, updated_at)
                VALUES ($img, $cat, $rle, $h, $w, $poly, $bbox, $area, $iou, $prompts, $model, $source, $now, $now)
                RETURNING id;
                """;
            cmd.Parameters.AddWithValue("$img", a.ImageId);
            cmd.Parameters.AddWithValue("$cat", categoryId);
            cmd.Parameters.AddWithValue("$rle", MaskRle.CountsToString(a.Rle.Counts));
            cmd.Parameters.AddWithValue("$h", a.Rle.Height);
            cmd.Parameters.AddWithValue("$w", a.Rle.Width);
            cmd.Parameters.AddWithValue("$poly", JsonSerializer.Serialize(polygons));
            cmd.Parameters.AddWithValue("$bbox", JsonSerializer.Serialize(new double[] { bx, by, bw, bh }));
            cmd.Parameters.AddWithValue("$area", area);
            cmd.Parameters.AddWithValue("$iou", (object?)a.PredictedIou ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$prompts", (object?)a.PromptsJson ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$model", (object?)a.Model ?? DBNull.Value);
            cmd.Parameters.AddWithValue("$source", a.Source);
            cmd.Parameters.AddWithValue("$now", now);
            try
            {
                id = Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19)
            {
                throw new KeyNotFoundException($"Image {a.ImageId} does not exist.");
            }
            tx.Commit();
        }
        return Annotation(id)!;
    }

    /// <summary>Moves an annotation to another category (created if new); null when there is no such annotation.</summary>
    public AnnotationRecord? SetCategory(long annotationId, string category)
    {
        string clean = CleanCategory(category);
        using (var c = Open())
        using (var tx = c.BeginTransaction())
        {
            long categoryId = EnsureCategory(c, tx, clean);
            using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "UPDATE annotations SET category_id = $cat, updated_at = $now WHERE id = $id;";
            cmd.Parameters.AddWithValue("$cat", categoryId);
            cmd.Parameters.AddWithValue("$now", Now());
            cmd.Parameters.AddWithValue("$id", annotationId);
            if (cmd.ExecuteNonQuery() == 0) return null; // disposing the transaction rolls the new category back
            tx.Commit();
        }
        return Annotation(annotationId);
    }

    public bool Delete(long annotationId)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "DELETE FROM annotations WHERE id = $id;";
        cmd.Parameters.AddWithValue("$id", annotationId);
        return cmd.ExecuteNonQuery() > 0;
    }

    public AnnotationRecord? Annotation(long id) => Query("WHERE a.id = $p", id).FirstOrDefault();

    public IReadOnlyList<AnnotationRecord> Annotations(long imageId) => Query("WHERE a.image_id = $p", imageId);

    public IReadOnlyList<AnnotationRecord> AllAnnotations() => Query("", null);

    private List<AnnotationRecord> Query(string where, long? p)
    {
        using var c = Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"""
            SELECT a.id, a.image_id, a.category_id, c.name, a.rle_counts, a.rle_height, a.rle_width, a.polygons, a.bbox, a.area,
                   a.predicted_iou, a.prompts, a.model, a.source, a.created_at, a.updated_at
            FROM annotations a JOIN categories c ON c.id = a.category_id {where} ORDER BY a.id;
            """;
        if (p is long v) cmd.Parameters.AddWithValue("$p", v);
        using var r = cmd.ExecuteReader();
        var list = new List<AnnotationRecord>();
        while (r.Read())
        {
            var rle = new CocoRle(r.GetInt32(5), r.GetInt32(6), MaskRle.CountsFromString(r.GetString(4)));
            list.Add(new AnnotationRecord(
                r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetString(3), rle,
                JsonSerializer.Deserialize<List<double[]>>(r.GetString(7)) ?? [],
                JsonSerializer.Deserialize<double[]>(r.GetString(8)) ?? [],
                r.GetInt64(9), r.IsDBNull(10) ? null : r.GetDouble(10), r.IsDBNull(11) ? null : r.GetString(11),
                r.IsDBNull(12) ? null : r.GetString(12), r.GetString(13),
                DateTimeOffset.Parse(r.GetString(14), CultureInfo.InvariantCulture), DateTimeOffset.Parse(r.GetString(15), CultureInfo.InvariantCulture)));
        }
        return list;
    }

    private static string Now() => DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
}
