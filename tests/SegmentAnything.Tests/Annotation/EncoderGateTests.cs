using SegmentAnything.Server;

namespace SegmentAnything.Tests.Annotation;

/// <summary>The encoder queue: user requests before background prefetches, promotion of a waiting prefetch.</summary>
public class EncoderGateTests
{
    [Fact]
    public async Task UserRequestsGoAheadOfWaitingBackgroundOnes()
    {
        var gate = new EncoderGate();
        var running = gate.NewTicket(background: true);
        await gate.EnterAsync(running);
        var bg1 = gate.EnterAsync(gate.NewTicket(background: true));
        var bg2 = gate.EnterAsync(gate.NewTicket(background: true));
        var user = gate.EnterAsync(gate.NewTicket(background: false));
        Assert.Equal(3, gate.Waiting);
        Assert.False(user.IsCompleted);

        gate.Exit();
        await user.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(bg1.IsCompleted);
        gate.Exit();
        await bg1.WaitAsync(TimeSpan.FromSeconds(5)); // then background ones in their order
        Assert.False(bg2.IsCompleted);
        gate.Exit();
        await bg2.WaitAsync(TimeSpan.FromSeconds(5));
        gate.Exit();
        Assert.Equal(0, gate.Waiting);
        var free = gate.EnterAsync(gate.NewTicket(background: true));
        Assert.True(free.IsCompleted); // the gate was left free
    }

    [Fact]
    public async Task APromotedBackgroundTicketOvertakesOtherBackgroundOnes()
    {
        var gate = new EncoderGate();
        await gate.EnterAsync(gate.NewTicket(background: false));
        var first = gate.EnterAsync(gate.NewTicket(background: true));
        var promotedTicket = gate.NewTicket(background: true);
        var promoted = gate.EnterAsync(promotedTicket);
        promotedTicket.Promote(); // a user now waits for this image
        Assert.False(promotedTicket.IsBackground);
        gate.Exit();
        await promoted.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(first.IsCompleted);
        gate.Exit();
        await first.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
