using SegmentAnything.Imaging;

namespace SegmentAnything.Server;

/// <summary>A decode the page may refine (its low-res logits as the next mask input) or accept by id.</summary>
public sealed record DecodeEntry(string Id, long ImageId, CocoRle[] Masks, float[] Scores, float[][] LowRes, string PromptsJson);

/// <summary>The most recent decodes, bounded so a busy session does not grow memory.</summary>
public sealed class DecodeCache(int capacity = 64)
{
    private readonly LinkedList<DecodeEntry> _entries = new();
    private readonly Lock _lock = new();

    public DecodeEntry Add(long imageId, CocoRle[] masks, float[] scores, float[][] lowRes, string promptsJson)
    {
        var entry = new DecodeEntry(Guid.NewGuid().ToString("N")[..16], imageId, masks, scores, lowRes, promptsJson);
        lock (_lock)
        {
            _entries.AddFirst(entry);
            while (_entries.Count > capacity) _entries.RemoveLast();
        }
        return entry;
    }

    public DecodeEntry Get(string? id, long imageId)
    {
        lock (_lock)
        {
            var e = _entries.FirstOrDefault(x => x.Id == id)
                ?? throw ApiException.NotFound($"Unknown or expired decode id '{id}': decode the prompt again.");
            if (e.ImageId != imageId) throw ApiException.BadRequest($"Decode '{id}' belongs to image {e.ImageId}, not {imageId}.");
            return e;
        }
    }
}
