using Microsoft.Data.Sqlite;

namespace SegmentAnything.Server.Annotation;

/// <summary>
/// The schema as an ordered list of steps; <c>PRAGMA user_version</c> records how many have run, so an
/// older database is brought forward on open and a newer one (from a later release) is refused.
/// </summary>
internal static class Migrations
{
    private static readonly string[] Steps =
    [
        """
        CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            file_name TEXT NOT NULL UNIQUE,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            content_hash TEXT,
            added_at TEXT NOT NULL
        );
        CREATE TABLE categories (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            supercategory TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE annotations (
            id INTEGER PRIMARY KEY,
            image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            category_id INTEGER NOT NULL REFERENCES categories(id),
            rle_counts TEXT NOT NULL,
            rle_height INTEGER NOT NULL,
            rle_width INTEGER NOT NULL,
            polygons TEXT NOT NULL,
            bbox TEXT NOT NULL,
            area INTEGER NOT NULL,
            predicted_iou REAL,
            prompts TEXT,
            model TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX annotations_image ON annotations(image_id);
        """,
        // Imported annotations keep their origin so a re-import can be told apart from model output.
        "ALTER TABLE annotations ADD COLUMN source TEXT NOT NULL DEFAULT 'model';",
    ];

    public static int Latest => Steps.Length;

    public static void Apply(SqliteConnection c)
    {
        int version = Convert.ToInt32(Scalar(c, "PRAGMA user_version;"));
        if (version > Latest)
            throw new InvalidOperationException($"The annotation database has schema version {version}; this build knows up to {Latest}. Use a newer sam.");
        for (int v = version; v < Latest; v++)
        {
            using var tx = c.BeginTransaction();
            using (var cmd = c.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = Steps[v] + $"\nPRAGMA user_version = {v + 1};";
                cmd.ExecuteNonQuery();
            }
            tx.Commit();
        }
    }

    private static object? Scalar(SqliteConnection c, string sql)
    {
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }
}
