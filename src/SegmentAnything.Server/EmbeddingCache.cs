using System.Security.Cryptography;
using SegmentAnything.Imaging;

namespace SegmentAnything.Server;

/// <summary>
/// Image embeddings keyed by the image's content hash and the model: an in-memory LRU in front of
/// safetensors files on disk, so reopening an image, or restarting the server, runs no encoder.
/// Encoder runs are serialised (they use every core) and a request for an image already being encoded
/// waits for that run instead of starting another.
/// </summary>
public sealed class EmbeddingCache
{
    public enum Source { Memory, Disk, Computed }

    private readonly SamModel _model;
    private readonly string _modelKey;
    private readonly string _directory;
    private readonly int _capacity;
    private readonly LinkedList<(string Key, ImageEmbedding Value)> _lru = new();
    private readonly Dictionary<string, Task<ImageEmbedding>> _inFlight = new();
    private readonly Dictionary<string, (long Length, DateTime Modified, string Hash)> _hashes = new();
    private readonly SemaphoreSlim _encoder = new(1, 1);
    private readonly Lock _lock = new();

    public EmbeddingCache(SamModel model, string modelKey, string directory, int capacity = 16)
    {
        (_model, _modelKey, _directory, _capacity) = (model, modelKey, directory, Math.Max(1, capacity));
    }

    public int EncoderRuns { get; private set; }

    /// <summary>The cache key of an image file: its SHA-256 and the model.</summary>
    public string KeyOf(string imagePath)
    {
        var info = new FileInfo(imagePath);
        lock (_lock)
        {
            if (_hashes.TryGetValue(imagePath, out var h) && h.Length == info.Length && h.Modified == info.LastWriteTimeUtc)
                return h.Hash + "-" + _modelKey;
        }
        string hash;
        using (var s = File.OpenRead(imagePath)) hash = Convert.ToHexStringLower(SHA256.HashData(s))[..32];
        lock (_lock) _hashes[imagePath] = (info.Length, info.LastWriteTimeUtc, hash);
        return hash + "-" + _modelKey;
    }

    public bool IsCached(string imagePath)
    {
        string key = KeyOf(imagePath);
        lock (_lock)
            if (_lru.Any(e => e.Key == key)) return true;
        return File.Exists(DiskPath(key));
    }

    public async Task<(ImageEmbedding Embedding, Source Source)> GetAsync(string imagePath, CancellationToken ct = default)
    {
        string key = KeyOf(imagePath);
        Task<ImageEmbedding> task;
        bool mine = false;
        lock (_lock)
        {
            var node = _lru.First;
            while (node is not null && node.Value.Key != key) node = node.Next;
            if (node is not null)
            {
                _lru.Remove(node);
                _lru.AddFirst(node);
                return (node.Value.Value, Source.Memory);
            }
            if (!_inFlight.TryGetValue(key, out task!))
            {
                task = LoadOrEncodeAsync(key, imagePath);
                _inFlight[key] = task;
                mine = true;
            }
        }
        try
        {
            var embedding = await task.WaitAsync(ct);
            if (!mine) return (embedding, Source.Memory);
            lock (_lock) return (embedding, _lastSource.GetValueOrDefault(key, Source.Computed));
        }
        finally
        {
            if (mine) lock (_lock) _inFlight.Remove(key);
        }
    }

    private readonly Dictionary<string, Source> _lastSource = new();

    private async Task<ImageEmbedding> LoadOrEncodeAsync(string key, string imagePath)
    {
        string disk = DiskPath(key);
        ImageEmbedding? embedding = null;
        Source source = Source.Disk;
        if (File.Exists(disk))
        {
            try { embedding = await Task.Run(() => ImageEmbedding.Load(disk)); }
            catch (Exception e) when (e is IOException or Checkpoints.CheckpointException) { embedding = null; } // a torn file: encode again
        }
        if (embedding is null || embedding.Architecture != _model.Architecture)
        {
            source = Source.Computed;
            await _encoder.WaitAsync();
            try
            {
                embedding = await Task.Run(() =>
                {
                    var image = ImageIO.Load(imagePath);
                    var predictor = new SamPredictor(_model);
                    predictor.SetImage(image);
                    return predictor.Embedding;
                });
                EncoderRuns++;
            }
            finally { _encoder.Release(); }
            Directory.CreateDirectory(_directory);
            // Written under a temporary name and renamed, so a crash never leaves a half file under the real key.
            string tmp = disk + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
            embedding.Save(tmp);
            File.Move(tmp, disk, overwrite: true);
        }
        lock (_lock)
        {
            _lastSource[key] = source;
            _lru.AddFirst((key, embedding));
            while (_lru.Count > _capacity) _lru.RemoveLast();
        }
        return embedding;
    }

    private string DiskPath(string key) => Path.Combine(_directory, key + ".safetensors");
}
