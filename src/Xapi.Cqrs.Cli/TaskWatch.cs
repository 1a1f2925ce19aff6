using System.Globalization;
using Spectre.Console;

namespace Xapi.Cqrs.Cli;

/// <summary>
/// Follows a task to its end by long-polling <c>GET /api/tasks/{id}?minVersion=</c> (the server answers as soon as
/// the task has changed, or after its bounded wait with the task as it is; short polling for a task without a
/// version), drawing a live progress bar on a terminal.
/// A task that ends in failure or cancellation throws <see cref="TaskFailedException"/>.
/// </summary>
internal static class TaskWatch
{
    public static async Task<TaskView> UntilDoneAsync(Session s, string taskId, string description, CancellationToken ct)
    {
        var path = $"api/tasks/{Uri.EscapeDataString(taskId)}";
        var task = (await s.Client.GetAsync<TaskView>(path, ct)).Value;
        if (!s.Json && s.Console.Profile.Capabilities.Interactive)
        {
            await s.Console.Progress()
                .AutoClear(false)
                .HideCompleted(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(async progress =>
                {
                    var bar = progress.AddTask(Label(description, task), maxValue: 1.0);
                    bar.Value = task.Progress;
                    while (task.IsPending)
                    {
                        task = await NextAsync(s, path, task, ct);
                        bar.Description = Label(description, task);
                        bar.Value = task.Progress;
                    }
                    if (task.Status == "success")
                    {
                        bar.Value = 1.0;
                    }
                    bar.StopTask();
                });
        }
        else
        {
            while (task.IsPending)
            {
                task = await NextAsync(s, path, task, ct);
            }
        }
        return task.Status == "success" ? task : throw new TaskFailedException(task);
    }

    /// <summary>How often to ask when the server does not number the task's changes (see <see cref="NextAsync"/>).</summary>
    internal static readonly TimeSpan PollEvery = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// The task once it has moved past the version we saw (or as it is when the server's wait ran out). While the
    /// task's version is 0 or 1, ask again at a short interval instead: a version of 0 is one the server does not
    /// number, and the server seen here (2026-12-02) answers version 1 for a new task and 0 once it has moved, so a
    /// ?minVersion=2 would wait out its whole bound (5 s) even though the task finished at once.
    /// </summary>
    private static async Task<TaskView> NextAsync(Session s, string path, TaskView seen, CancellationToken ct)
    {
        if (seen.Version <= 1)
        {
            await Task.Delay(PollEvery, ct);
            return (await s.Client.GetAsync<TaskView>(path, ct)).Value;
        }
        return (await s.Client.GetAsync<TaskView>($"{path}?minVersion={(seen.Version + 1).ToString(CultureInfo.InvariantCulture)}", ct)).Value;
    }

    /// <summary>"start web01: building" (the step, while there is one). Escaped: a task's text is never markup.</summary>
    private static string Label(string description, TaskView task) =>
        Markup.Escape(task.IsPending && task.Step is { Length: > 0 } step ? $"{description}: {step}" : description);
}
