using System.Collections.Concurrent;
using JasperFx.Events;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Application.Tasks;

/// <summary>
/// Completion signals for tasks finished by this process: a synchronous call waits on its task's signal,
/// set by the commit that appends TaskSucceeded or TaskFailed, instead of polling the read model.
/// </summary>
public sealed class TaskSignals : ICommitObserver
{
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> waiting = new();

    /// <summary>
    /// Completes when a commit of this process finishes the task (register before reading its state). Every waiter
    /// of a task shares one signal, removed when the task finishes.
    /// </summary>
    public Task Finished(Guid taskId) =>
        waiting.GetOrAdd(taskId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Another process finished the task (<see cref="Store.CommitNotifications"/>): its waiters look at it now.</summary>
    public void Complete(Guid taskId)
    {
        if (waiting.TryRemove(taskId, out var signal))
        {
            signal.TrySetResult();
        }
    }

    public void OnCommitted(IReadOnlyList<IEvent> events)
    {
        foreach (var e in events)
        {
            if (e.Data is TaskSucceeded or TaskFailed or TaskCancelled && waiting.TryRemove(e.StreamId, out var signal))
            {
                signal.TrySetResult();
            }
        }
    }
}
