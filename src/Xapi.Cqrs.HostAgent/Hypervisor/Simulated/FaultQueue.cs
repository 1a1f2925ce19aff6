namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// Injected faults, consumed in the order they were added: each call of a step takes one use of the
/// oldest fault for that step; a fault whose uses are spent is gone. Thread-safe.
/// </summary>
public sealed class FaultQueue
{
    private readonly object _gate = new();
    private readonly List<Entry> _entries = [];

    public void Add(HypervisorFault fault)
    {
        ArgumentNullException.ThrowIfNull(fault);
        if (!fault.IsValid(out var problem))
        {
            throw new ArgumentException(problem, nameof(fault));
        }

        lock (_gate)
        {
            _entries.Add(new Entry(fault, fault.Count));
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _entries.Clear();
        }
    }

    /// <summary>The queued faults with <see cref="HypervisorFault.Count"/> = uses left.</summary>
    public IReadOnlyList<HypervisorFault> Snapshot()
    {
        lock (_gate)
        {
            return [.. _entries.Select(e => e.Fault with { Count = e.Remaining })];
        }
    }

    /// <summary>Take one use of the first fault for <paramref name="step"/>, or null when none is queued.</summary>
    public HypervisorFault? Take(HypervisorStep step)
    {
        lock (_gate)
        {
            var index = _entries.FindIndex(e => e.Fault.Step == step);
            if (index < 0)
            {
                return null;
            }

            var entry = _entries[index];
            entry.Remaining--;
            if (entry.Remaining == 0)
            {
                _entries.RemoveAt(index);
            }

            return entry.Fault;
        }
    }

    private sealed class Entry(HypervisorFault fault, int remaining)
    {
        public HypervisorFault Fault { get; } = fault;

        public int Remaining { get; set; } = remaining;
    }
}
