using SegmentAnything.Modeling;

namespace SegmentAnything.Tests.Modeling;

public class TokenArenaTests
{
    [Fact]
    public void ReleasedArraysAreReusedAtTheirExactLengthAndLiveOnesAreNot()
    {
        int outer = TokenArena.Mark();
        float[] kept = TokenArena.Rent(7);
        int mark = TokenArena.Mark();
        float[] a = TokenArena.Rent(33), b = TokenArena.Rent(33), c = TokenArena.Rent(5);
        Assert.Equal(33, a.Length);
        Assert.Equal(5, c.Length);
        Assert.NotSame(a, b);
        TokenArena.Release(mark);

        float[] a2 = TokenArena.Rent(33), b2 = TokenArena.Rent(33), c2 = TokenArena.Rent(5), d = TokenArena.Rent(7);
        Assert.Contains(a2, new[] { a, b });
        Assert.Contains(b2, new[] { a, b });
        Assert.NotSame(a2, b2);
        Assert.Same(c, c2);
        Assert.NotSame(kept, d); // still rented before the inner mark
        TokenArena.Release(outer);
        Assert.Equal(outer, TokenArena.Mark());
    }
}
