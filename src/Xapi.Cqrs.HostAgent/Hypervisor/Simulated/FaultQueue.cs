namespace Xapi.Cqrs.HostAgent.Hypervisor.Simulated;

/// <summary>
/// Injected faults, consumed in the order they were added: each call of a step takes one use of the
/// oldest fault for that step; a fault whose uses are spent is gone. Thread-safe.
/// A call that has nothing to do (destroying a domain that does not exist, unplugging a device that is not
/// plugged) is not a call of its step: it takes no use.
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

    /// <summary>
    /// One call of <paramref name="step"/>: take a use of its first fault (none: done at once), wait the fault's delay on
    /// <paramref name="time"/> (honouring <paramref name="ct"/>), then throw its error as a <see cref="HypervisorException"/>
    /// (a delay-only fault lets the call go on). The parameters are the fault's own, else what
    /// <paramref name="defaults"/> gives for the code, else INTERNAL_ERROR [text (VM vm)] or [vm; text].
    /// </summary>
    public Task ApplyAsync(HypervisorStep step, Guid vmId, TimeProvider time, Func<string, string[]?> defaults, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(defaults);
        return Take(step) is { } fault ? FailAsync(fault, vmId, time, defaults, ct) : Task.CompletedTask;
    }

    /// <summary>The text an injected fault's error carries.</summary>
    public static string Text(HypervisorStep step) => $"injected fault at {step.ToWire()}";

    private static async Task FailAsync(HypervisorFault fault, Guid vmId, TimeProvider time, Func<string, string[]?> defaults, CancellationToken ct)
    {
        if (fault.DelayMs is > 0)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(fault.DelayMs.Value), time, ct).ConfigureAwait(false);
        }

        if (fault.EffectiveError is not { } code)
        {
            return;
        }

        var text = Text(fault.Step);
        string[] parameters = fault.Params is { } given ? [.. given] : defaults(code) ?? (code == Domain.ErrorCodes.InternalError
            ? [$"{text} (VM {vmId})"]
            : [vmId.ToString(), text]);
        throw new HypervisorException(code, parameters);
    }

    private sealed class Entry(HypervisorFault fault, int remaining)
    {
        public HypervisorFault Fault { get; } = fault;

        public int Remaining { get; set; } = remaining;
    }
}
