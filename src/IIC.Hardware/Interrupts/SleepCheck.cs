namespace IIC.Hardware;

/// <summary>What <see cref="InterruptPage.PrepareSleep"/> found after announcing sleep.</summary>
internal enum SleepCheck
{
    /// <summary>Nothing is ready and nothing is pending: sleep now on the sequence read before the announcement.</summary>
    Announced,

    /// <summary>The target became ready: the announcement was withdrawn.</summary>
    Ready,

    /// <summary>A vector is pending (perhaps for another member of a shared page): the announcement was withdrawn.</summary>
    Pending,
}
