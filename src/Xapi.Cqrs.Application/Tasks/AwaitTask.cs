using Marten;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Tasks;

namespace Xapi.Cqrs.Application.Tasks;

/// <summary>Waiting for a task to finish (synchronous API calls); a failed task becomes its xapi error.</summary>
public static class AwaitTask
{
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(10);

    public static async Task<XapiTask> UntilFinishedAsync(IDocumentStore store, Guid taskId, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(Timeout);
        var delay = TimeSpan.FromMilliseconds(10);
        while (true)
        {
            await using (var session = store.QuerySession())
            {
                var task = await session.LoadAsync<XapiTask>(taskId, deadline.Token);
                if (task is { IsFinished: true })
                {
                    return task.Status == Domain.Tasks.TaskStatus.Failure && task.ErrorInfo.Length > 0
                        ? throw new XapiException(task.ErrorInfo[0], [.. task.ErrorInfo.Skip(1)])
                        : task;
                }
            }

            await Task.Delay(delay, deadline.Token);
            delay = TimeSpan.FromMilliseconds(Math.Min(200, delay.TotalMilliseconds * 1.5));
        }
    }
}
