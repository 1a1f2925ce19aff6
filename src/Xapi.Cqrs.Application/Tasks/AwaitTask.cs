using Marten;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Application.Tasks;

/// <summary>Waiting for a task to finish (synchronous API calls); a failed task becomes its xapi error.</summary>
public static class AwaitTask
{
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How often the read model is looked at while waiting anyway: the fallback for a task finished by another process
    /// (an external agent, another node's agents) whose notification was lost (<see cref="Store.CommitNotifications"/>).
    /// </summary>
    public static readonly TimeSpan Recheck = TimeSpan.FromSeconds(1);

    public static async Task<XapiTask> UntilFinishedAsync(IQuerySession session, TaskSignals signals, Guid taskId, TimeProvider time, CancellationToken ct)
    {
        var finished = signals.Finished(taskId);
        var deadline = time.GetUtcNow() + Timeout;
        while (true)
        {
            var task = await session.GetAsync<XapiTask>(taskId, ObjectClass.Task, ct);
            if (task.IsFinished)
            {
                return task is { Status: Domain.Tasks.TaskStatus.Failure or Domain.Tasks.TaskStatus.Cancelled, ErrorInfo.Length: > 0 }
                    ? throw new XapiException(task.ErrorInfo[0], [.. task.ErrorInfo.Skip(1)])
                    : task;
            }

            if (time.GetUtcNow() >= deadline)
            {
                throw new TimeoutException($"task {taskId} did not finish within {Timeout}");
            }

            await Task.WhenAny(finished, Task.Delay(Recheck, time, ct));
            ct.ThrowIfCancellationRequested();
        }
    }
}
