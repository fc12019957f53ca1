namespace IIC.Native;

/// <summary>madvise(2) advice values that IICFast uses.</summary>
internal enum MemoryAdvice
{
    /// <summary>MADV_NORMAL.</summary>
    Normal = 0,
    /// <summary>MADV_WILLNEED: fault the range in ahead of use.</summary>
    WillNeed = 3,
    /// <summary>MADV_DONTNEED: drop the pages (a shared file mapping re-reads the file's contents).</summary>
    DontNeed = 4,
    /// <summary>MADV_DONTFORK: do not map the range into children created by fork.</summary>
    DontFork = 10,
    /// <summary>MADV_HUGEPAGE: prefer transparent huge pages.</summary>
    HugePage = 14,
    /// <summary>MADV_POPULATE_WRITE (Linux 5.14): fault the range in writable now, committing its pages.</summary>
    PopulateWrite = 23,
}
