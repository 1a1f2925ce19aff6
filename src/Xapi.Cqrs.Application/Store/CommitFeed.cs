using JasperFx.Events;
using Marten;
using Marten.Services;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Xapi.Cqrs.Application.Store;

/// <summary>Told of every event right after the transaction that appended it committed in this process.</summary>
public interface ICommitObserver
{
    /// <summary>Called on the committing thread: hand the work on, do not do it here.</summary>
    void OnCommitted(IReadOnlyList<IEvent> events);
}

/// <summary>
/// Marten's after-commit hook, fanned out to every <see cref="ICommitObserver"/>: the in-process host agents
/// (handed their work at once, without waiting for the daemon) and the task completion signals. The
/// durable subscription stays the source of truth; this only makes the common case immediate.
/// </summary>
public sealed class CommitFeed(IServiceProvider services, ILogger<CommitFeed> log) : DocumentSessionListenerBase
{
    private ICommitObserver[]? observers;

    public override Task AfterCommitAsync(IDocumentSession session, IChangeSet commit, CancellationToken token)
    {
        var events = commit.GetEvents().ToList();
        if (events.Count == 0)
        {
            return Task.CompletedTask;
        }

        observers ??= [.. services.GetServices<ICommitObserver>()];
        foreach (var observer in observers)
        {
            try
            {
                observer.OnCommitted(events);
            }
            catch (Exception e)
            {
                // The commit stands; the durable subscription delivers the work later.
                log.LogError(e, "commit observer {Observer} failed", observer.GetType().Name);
            }
        }

        return Task.CompletedTask;
    }
}
