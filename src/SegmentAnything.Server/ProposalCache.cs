using SegmentAnything.AutomaticMasks;

namespace SegmentAnything.Server;

/// <summary>The proposals of one "segment everything" run, kept so the page can accept them by index.</summary>
public sealed record ProposalSet(string Id, long ImageId, IReadOnlyList<MaskRecord> Records, string OptionsJson);

/// <summary>The most recent "segment everything" runs, bounded (each holds a few hundred RLEs at most).</summary>
public sealed class ProposalCache(int capacity = 8)
{
    private readonly LinkedList<ProposalSet> _sets = new();
    private readonly Lock _lock = new();

    public ProposalSet Add(long imageId, IReadOnlyList<MaskRecord> records, string optionsJson)
    {
        var set = new ProposalSet(Guid.NewGuid().ToString("N")[..16], imageId, records, optionsJson);
        lock (_lock)
        {
            _sets.AddFirst(set);
            while (_sets.Count > capacity) _sets.RemoveLast();
        }
        return set;
    }

    public ProposalSet Get(string? id, long imageId)
    {
        lock (_lock)
        {
            var s = _sets.FirstOrDefault(x => x.Id == id)
                ?? throw ApiException.NotFound($"Unknown or expired proposals id '{id}': run segment everything again.");
            if (s.ImageId != imageId) throw ApiException.BadRequest($"Proposals '{id}' belong to image {s.ImageId}, not {imageId}.");
            return s;
        }
    }
}
