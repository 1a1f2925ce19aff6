using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.HostAgent.Agents;

/// <summary>
/// Coalesces a start's host-side step events into few commits (Xapi:Agent:CoalesceWindow). Each step keeps
/// its own finish time and duration. Steps finishing within the window of the first uncommitted one are
/// committed together, with whatever the sequence commits last (residency or failure); a step still
/// running when the window closes flushes what came before it, so progress stays visible on a slow
/// hypervisor. Waits on the injected <see cref="TimeProvider"/>, never on the wall clock directly.
/// </summary>
public sealed class StepBuffer(TimeProvider time, TimeSpan window, Func<IReadOnlyList<IHostStep>, CancellationToken, Task> commit)
{
    private readonly List<IHostStep> pending = [];
    private DateTimeOffset firstAt;

    /// <summary>Runs one hypervisor step and records its event (<paramref name="report"/> gets the result, finish time and duration in ms).</summary>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> step, Func<T, DateTimeOffset, double, IHostStep> report, CancellationToken ct)
    {
        var started = time.GetUtcNow();
        var work = step(ct);
        if (pending.Count > 0 && !work.IsCompleted)
        {
            var left = firstAt + window - time.GetUtcNow();
            if (left <= TimeSpan.Zero || await Task.WhenAny(work, Task.Delay(left, time, ct)) != work)
            {
                await FlushAsync(ct); // the step is slow: what came before it is committed meanwhile
            }
        }

        var result = await work;
        var now = time.GetUtcNow();
        await AddAsync(report(result, now, (now - started).TotalMilliseconds), ct);
        return result;
    }

    /// <summary>Runs a step that reports no event of its own (it still counts toward the window).</summary>
    public Task RunAsync(Func<CancellationToken, Task> step, CancellationToken ct) =>
        RunAsync<object?>(async c => { await step(c); return null; }, (_, _, _) => null!, ct);

    /// <summary>The uncommitted steps, for the sequence's last commit; the buffer is empty afterwards.</summary>
    public IReadOnlyList<IHostStep> Take()
    {
        var taken = pending.ToList();
        pending.Clear();
        return taken;
    }

    private async Task AddAsync(IHostStep? step, CancellationToken ct)
    {
        if (step is null)
        {
            return;
        }

        if (pending.Count == 0)
        {
            firstAt = step.At ?? time.GetUtcNow();
        }

        pending.Add(step);
        if (time.GetUtcNow() - firstAt >= window)
        {
            await FlushAsync(ct);
        }
    }

    private async Task FlushAsync(CancellationToken ct)
    {
        if (pending.Count == 0)
        {
            return;
        }

        await commit(Take(), ct);
    }
}
