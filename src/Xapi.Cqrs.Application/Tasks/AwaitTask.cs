using Marten;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Application.Tasks;

/// <summary>Waiting for a task to finish (synchronous API calls); a failed task becomes its xapi error.</summary>
public static class AwaitTask
{
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    public static async Task<XapiTask> UntilFinishedAsync(IQuerySession session, Guid taskId, TimeProvider time, CancellationToken ct)
    {
        var task = await ReadModels.WaitForAsync<XapiTask>(session, taskId, ObjectClass.Task, t => t.IsFinished, Timeout, time, ct);
        return task switch
        {
            { IsFinished: false } => throw new TimeoutException($"task {taskId} did not finish within {Timeout}"),
            { Status: Domain.Tasks.TaskStatus.Failure, ErrorInfo.Length: > 0 } => throw new XapiException(task.ErrorInfo[0], [.. task.ErrorInfo.Skip(1)]),
            _ => task,
        };
    }
}
