using System.Security.Cryptography;
using SegmentAnything.Imaging;

namespace SegmentAnything.Server;

/// <summary>
/// Image embeddings keyed by the image's content hash and the model: an in-memory LRU in front of
/// safetensors files on disk, so reopening an image, or restarting the server, runs no encoder.
/// Encoder runs are serialised (they use every core) and a request for an image already being encoded
/// waits for that run instead of starting another. User requests go ahead of background prefetches
/// waiting for the encoder (<see cref="EncoderGate"/>).
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
    private readonly EncoderGate _encoder = new();
    private readonly Dictionary<string, EncoderGate.Ticket> _tickets = new();
    private readonly System.Diagnostics.Stopwatch _running = new();
    private EncoderGate.Ticket? _runningTicket;
    private double? _lastEncodeMs;
    private readonly Lock _lock = new();

    public EmbeddingCache(SamModel model, string modelKey, string directory, int capacity = 16)
    {
        (_model, _modelKey, _directory, _capacity) = (model, modelKey, directory, Math.Max(1, capacity));
    }

    public int EncoderRuns { get; private set; }

    /// <summary>
    /// What the encoder is doing, for a progress indicator: whether it runs (and for a background
    /// prefetch), for how long, how long the last run took (the estimate), and how many runs wait.
    /// </summary>
    public (bool Busy, bool Background, double ElapsedMs, double? EstimatedMs, int Waiting) EncoderStatus
    {
        get
        {
            lock (_lock)
                return (_running.IsRunning, _running.IsRunning && _runningTicket is { IsBackground: true }, _running.Elapsed.TotalMilliseconds, _lastEncodeMs, _encoder.Waiting);
        }
    }

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

    /// <summary>
    /// The embedding of an image from memory, disk or the encoder. A <paramref name="background"/> request
    /// (neighbour prefetch) waits behind user requests for the encoder.
    /// </summary>
    public async Task<(ImageEmbedding Embedding, Source Source)> GetAsync(string imagePath, CancellationToken ct = default, bool background = false)
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
                var ticket = _encoder.NewTicket(background);
                _tickets[key] = ticket;
                task = LoadOrEncodeAsync(key, imagePath, ticket);
                _inFlight[key] = task;
                mine = true;
            }
            else if (!background && _tickets.TryGetValue(key, out var waiting)) waiting.Promote(); // a user now waits for it
        }
        try
        {
            var embedding = await task.WaitAsync(ct);
            if (!mine) return (embedding, Source.Memory);
            lock (_lock) return (embedding, _lastSource.GetValueOrDefault(key, Source.Computed));
        }
        finally
        {
            if (mine) lock (_lock) { _inFlight.Remove(key); _tickets.Remove(key); }
        }
    }

    private readonly Dictionary<string, Source> _lastSource = new();

    private async Task<ImageEmbedding> LoadOrEncodeAsync(string key, string imagePath, EncoderGate.Ticket ticket)
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
            await _encoder.EnterAsync(ticket);
            try
            {
                lock (_lock)
                {
                    _runningTicket = ticket;
                    _running.Restart();
                }
                embedding = await Task.Run(() =>
                {
                    var image = ImageIO.Load(imagePath);
                    var predictor = new SamPredictor(_model);
                    predictor.SetImage(image);
                    return predictor.Embedding;
                });
                EncoderRuns++;
            }
            finally
            {
                lock (_lock)
                {
                    _running.Stop();
                    _lastEncodeMs = _running.Elapsed.TotalMilliseconds;
                    _running.Reset();
                    _runningTicket = null;
                }
                _encoder.Exit();
            }
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
