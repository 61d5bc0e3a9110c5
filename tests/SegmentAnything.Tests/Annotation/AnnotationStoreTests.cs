using System.Text.Json;
using Microsoft.Data.Sqlite;
using SegmentAnything.Imaging;
using SegmentAnything.Server.Annotation;
using SegmentAnything.Tests.Support;

namespace SegmentAnything.Tests.Annotation;

public class AnnotationStoreTests : IDisposable
{
    private readonly string _dir = CliHarness.TempDir();

    public void Dispose() => AnnotationTestSupport.DeleteQuietly(_dir);

    private static CocoRle Disc(int h, int w, int cx, int cy, int r)
    {
        var m = new bool[h * w];
        for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) m[y * w + x] = (x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r;
        return MaskRle.ToCocoRle(m, h, w);
    }

    private AnnotationStore Populated(out long imageA)
    {
        var store = new AnnotationStore(Path.Combine(_dir, "p.db"));
        imageA = store.UpsertImage("a.png", 64, 48, "hash-a");
        long imageB = store.UpsertImage("sub/b.png", 30, 20, null);
        store.Add(new NewAnnotation(imageA, "circle", Disc(48, 64, 20, 20, 10), 0.9, """{"points":[[20,20]],"labels":[1]}""", "m"));
        store.Add(new NewAnnotation(imageA, "blob", Disc(48, 64, 50, 30, 6), null, null, "m"));
        store.Add(new NewAnnotation(imageB, "circle", Disc(20, 30, 0, 0, 5), 0.5, null, "m"));
        return store;
    }

    [Fact]
    public void FreshDatabase_IsWal_AtLatestSchema_AndReopensWithData()
    {
        var store = Populated(out long a);
        Assert.Equal(Migrations.Latest, store.SchemaVersion);
        var again = new AnnotationStore(store.Path);
        Assert.Equal(2, again.Annotations(a).Count);
        Assert.Equal(["circle", "blob"], again.Categories().Select(c => c.Name));
        using var c = new SqliteConnection($"Data Source={store.Path}");
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", cmd.ExecuteScalar());
    }

    [Fact]
    public void StoredAnnotation_HasDerivedGeometry()
    {
        var store = Populated(out long a);
        var ann = store.Annotations(a)[0];
        var mask = MaskRle.Decode(ann.Rle);
        Assert.Equal(mask.LongCount(b => b), ann.Area);
        var (x, y, w, h) = MaskStats.BoundingBox(mask, 48, 64);
        Assert.Equal(new double[] { x, y, w, h }, ann.Bbox);
        Assert.NotEmpty(ann.Polygons);
        Assert.Equal(0.9, ann.PredictedIou!.Value, 6);
        Assert.Contains("points", ann.PromptsJson);
        Assert.True(ann.CreatedAt <= DateTimeOffset.UtcNow);
    }

    [Fact]
    public void OlderSchema_IsMigrated_NewerIsRefused()
    {
        string path = Path.Combine(_dir, "old.db");
        using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            // Version 1 as a first release wrote it: no 'source' column.
            cmd.CommandText = """
                CREATE TABLE images (id INTEGER PRIMARY KEY, file_name TEXT NOT NULL UNIQUE, width INTEGER NOT NULL, height INTEGER NOT NULL, content_hash TEXT, added_at TEXT NOT NULL);
                CREATE TABLE categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, supercategory TEXT NOT NULL DEFAULT '');
                CREATE TABLE annotations (id INTEGER PRIMARY KEY, image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE, category_id INTEGER NOT NULL REFERENCES categories(id),
                    rle_counts TEXT NOT NULL, rle_height INTEGER NOT NULL, rle_width INTEGER NOT NULL, polygons TEXT NOT NULL, bbox TEXT NOT NULL, area INTEGER NOT NULL,
                    predicted_iou REAL, prompts TEXT, model TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
                INSERT INTO images VALUES (1, 'x.png', 8, 8, NULL, '2024-01-01T00:00:00Z');
                INSERT INTO categories(id, name) VALUES (1, 'thing');
                INSERT INTO annotations VALUES (1, 1, 1, '0<0', 8, 8, '[]', '[0,0,8,8]', 64, NULL, NULL, NULL, '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z');
                PRAGMA user_version = 1;
                """;
            cmd.ExecuteNonQuery();
        }
        var store = new AnnotationStore(path);
        Assert.Equal(Migrations.Latest, store.SchemaVersion);
        var ann = Assert.Single(store.AllAnnotations());
        Assert.Equal("model", ann.Source);
        Assert.Equal(64, ann.Area);

        using (var c = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = $"PRAGMA user_version = {Migrations.Latest + 1};";
            cmd.ExecuteNonQuery();
        }
        AnnotationStore.ReleaseFiles();
        var e = Assert.Throws<InvalidOperationException>(() => new AnnotationStore(path));
        Assert.Contains("schema version", e.Message);
    }

    [Fact]
    public void BadInput_IsRefusedWithClearErrors()
    {
        var store = Populated(out long a);
        Assert.Throws<ArgumentException>(() => store.Add(new NewAnnotation(a, "  ", Disc(48, 64, 5, 5, 3), null, null, null)));
        Assert.Throws<ArgumentException>(() => store.Add(new NewAnnotation(a, "x", MaskRle.ToCocoRle(new bool[48 * 64], 48, 64), null, null, null)));
        Assert.Throws<KeyNotFoundException>(() => store.Add(new NewAnnotation(999, "x", Disc(48, 64, 5, 5, 3), null, null, null)));
        Assert.False(store.Delete(12345));
    }

    [Theory]
    [InlineData(false, 1.0)]
    [InlineData(true, 0.0)]
    [InlineData(true, 1.0)]
    [InlineData(true, 3.0)]
    public void CocoExport_IsValid(bool polygons, double tolerance)
    {
        var store = Populated(out _);
        var coco = JsonDocument.Parse(Exporter.Coco(store, polygons, tolerance).ToJsonString()).RootElement;
        CocoValidator.Validate(coco);
        Assert.Equal(3, coco.GetProperty("annotations").GetArrayLength());
        Assert.Equal(2, coco.GetProperty("categories").GetArrayLength());
        Assert.Equal(polygons ? JsonValueKind.Array : JsonValueKind.Object, coco.GetProperty("annotations")[0].GetProperty("segmentation").ValueKind);
    }

    [Fact]
    public void Sa1bAndPngExports_WriteOneFilePerImageAndPerAnnotation()
    {
        var store = Populated(out long a);
        string sa1b = Path.Combine(_dir, "sa1b"), png = Path.Combine(_dir, "png");
        Assert.Equal(2, Exporter.Write(store, new ExportOptions(ExportFormat.Sa1b), sa1b).Count);
        var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(sa1b, "a.json"))).RootElement;
        Assert.Equal(64, doc.GetProperty("image").GetProperty("width").GetInt32());
        var first = doc.GetProperty("annotations")[0];
        Assert.Equal(first.GetProperty("area").GetInt64(), AnnotationTestSupport.MaskFromJson(first.GetProperty("segmentation")).LongCount(b => b));
        Assert.Equal(20, first.GetProperty("point_coords")[0][0].GetDouble());
        Assert.True(File.Exists(Path.Combine(sa1b, "sub_b.json")));

        var files = Exporter.Write(store, new ExportOptions(ExportFormat.Png), png);
        Assert.Equal(3, files.Count);
        var ann = store.Annotations(a)[0];
        var img = ImageIO.Load(files[0]);
        var expected = MaskRle.Decode(ann.Rle);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], img.Pixels[3 * i] == 255);
    }
}

public class CocoImportTests : IDisposable
{
    private readonly string _dir = CliHarness.TempDir();

    public void Dispose() => AnnotationTestSupport.DeleteQuietly(_dir);

    [Fact]
    public void ExportThenImport_RoundTripsRleExactly_AndPolygonsClosely()
    {
        var source = new AnnotationStore(Path.Combine(_dir, "a.db"));
        long img = source.UpsertImage("x.png", 50, 40, null);
        var m = new bool[40 * 50];
        for (int y = 0; y < 40; y++) for (int x = 0; x < 50; x++) m[y * 50 + x] = (x - 20) * (x - 20) + (y - 18) * (y - 18) < 100 || (x > 35 && y > 30);
        var original = source.Add(new NewAnnotation(img, "thing", MaskRle.ToCocoRle(m, 40, 50), 0.8, null, null));

        foreach (bool polygons in new[] { false, true })
        {
            var target = new AnnotationStore(Path.Combine(_dir, $"b{polygons}.db"));
            target.UpsertImage("x.png", 50, 40, null);
            var coco = JsonDocument.Parse(Exporter.Coco(source, polygons, 0).ToJsonString()).RootElement;
            var r = CocoImport.Import(target, coco);
            Assert.Equal(1, r.Imported);
            var back = Assert.Single(target.AllAnnotations());
            Assert.Equal("thing", back.Category);
            Assert.Equal("import", back.Source);
            // Exact polygons (tolerance 0) of a hole-free mask rasterise back to the same pixels.
            Assert.Equal(MaskRle.Decode(original.Rle), MaskRle.Decode(back.Rle));
        }
    }

    [Fact]
    public void Import_SkipsUnknownImages_AndRefusesBrokenFiles()
    {
        var store = new AnnotationStore(Path.Combine(_dir, "c.db"));
        store.UpsertImage("x.png", 10, 10, null);
        var coco = JsonDocument.Parse("""{"images":[{"id":7,"file_name":"other.png","width":10,"height":10}],"categories":[{"id":1,"name":"a"}],"annotations":[{"id":1,"image_id":7,"category_id":1,"segmentation":[[0,0,5,0,5,5]]}]}""").RootElement;
        Assert.Equal(1, CocoImport.Import(store, coco).SkippedUnknownImage);
        Assert.Throws<FormatException>(() => CocoImport.Import(store, JsonDocument.Parse("[]").RootElement));
        var bad = JsonDocument.Parse("""{"images":[{"id":1,"file_name":"x.png","width":10,"height":10}],"annotations":[{"id":1,"image_id":1,"category_id":1,"segmentation":[[0,0,5]]}]}""").RootElement;
        Assert.Throws<FormatException>(() => CocoImport.Import(store, bad));
    }
}
