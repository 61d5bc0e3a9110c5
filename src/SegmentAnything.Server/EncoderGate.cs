namespace SegmentAnything.Server;

/// <summary>
/// Lets one encoder run at a time, and when it frees, hands it to a waiting user request before any
/// waiting background (neighbour prefetch) one. A background ticket can be promoted while it waits,
/// when a user asks for the very image it is waiting to encode. A run already started is not preempted.
/// </summary>
public sealed class EncoderGate
{
    /// <summary>A place in the queue; <see cref="Promote"/> moves it ahead of all background tickets.</summary>
    public sealed class Ticket
    {
        internal readonly TaskCompletionSource Turn = new(TaskCreationOptions.RunContinuationsAsynchronously);
        internal volatile bool High;
        internal EncoderGate? Gate;

        public bool IsBackground => !High;

        public void Promote()
        {
            if (Gate is { } g) lock (g._lock) High = true;
            else High = true;
        }
    }

    private readonly Lock _lock = new();
    private readonly List<Ticket> _waiting = [];
    private bool _busy;

    public int Waiting { get { lock (_lock) return _waiting.Count; } }

    public Ticket NewTicket(bool background) => new() { High = !background, Gate = this };

    public Task EnterAsync(Ticket ticket)
    {
        lock (_lock)
        {
            if (!_busy)
            {
                _busy = true;
                ticket.Turn.TrySetResult();
            }
            else _waiting.Add(ticket);
        }
        return ticket.Turn.Task;
    }

    public void Exit()
    {
        Ticket? next;
        lock (_lock)
        {
            int i = _waiting.FindIndex(t => t.High);
            if (i < 0 && _waiting.Count > 0) i = 0;
            if (i < 0)
            {
                _busy = false;
                return;
            }
            next = _waiting[i];
            _waiting.RemoveAt(i);
        }
        next.Turn.TrySetResult();
    }
}
